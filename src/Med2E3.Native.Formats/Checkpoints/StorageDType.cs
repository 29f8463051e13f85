namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>Element type of a stored tensor, as written by PyTorch or safetensors (little-endian).</summary>
public enum StorageDType
{
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

/// <summary>Sizes and names of <see cref="StorageDType"/> values in the two file formats.</summary>
public static class StorageDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this StorageDType dtype) => dtype switch
    {
        StorageDType.F64 or StorageDType.I64 => 8,
        StorageDType.F32 or StorageDType.I32 => 4,
        StorageDType.F16 or StorageDType.BF16 or StorageDType.I16 => 2,
        StorageDType.I8 or StorageDType.U8 or StorageDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>True for F32, F16, BF16 and F64.</summary>
    public static bool IsFloatingPoint(this StorageDType dtype) =>
        dtype is StorageDType.F32 or StorageDType.F16 or StorageDType.BF16 or StorageDType.F64;

    /// <summary>The safetensors header spelling ("F32", "BF16", "BOOL", …).</summary>
    public static string SafetensorsName(this StorageDType dtype) => dtype switch
    {
        StorageDType.Bool => "BOOL",
        _ => dtype.ToString(),
    };

    /// <summary>Parses a safetensors dtype string; returns false for types this library does not read.</summary>
    public static bool TryParseSafetensors(string name, out StorageDType dtype)
    {
        switch (name)
        {
            case "F32": dtype = StorageDType.F32; return true;
            case "F16": dtype = StorageDType.F16; return true;
            case "BF16": dtype = StorageDType.BF16; return true;
            case "F64": dtype = StorageDType.F64; return true;
            case "I64": dtype = StorageDType.I64; return true;
            case "I32": dtype = StorageDType.I32; return true;
            case "I16": dtype = StorageDType.I16; return true;
            case "I8": dtype = StorageDType.I8; return true;
            case "U8": dtype = StorageDType.U8; return true;
            case "BOOL": dtype = StorageDType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>Maps a PyTorch typed-storage class name (e.g. <c>BFloat16Storage</c>) to its element type.</summary>
    public static bool TryParseTorchStorage(string className, out StorageDType dtype)
    {
        switch (className)
        {
            case "FloatStorage": dtype = StorageDType.F32; return true;
            case "HalfStorage": dtype = StorageDType.F16; return true;
            case "BFloat16Storage": dtype = StorageDType.BF16; return true;
            case "DoubleStorage": dtype = StorageDType.F64; return true;
            case "LongStorage": dtype = StorageDType.I64; return true;
            case "IntStorage": dtype = StorageDType.I32; return true;
            case "ShortStorage": dtype = StorageDType.I16; return true;
            case "CharStorage": dtype = StorageDType.I8; return true;
            case "ByteStorage": dtype = StorageDType.U8; return true;
            case "BoolStorage": dtype = StorageDType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>Lower-case name for summaries ("bf16", "f32", …).</summary>
    public static string ShortName(this StorageDType dtype) => dtype.ToString().ToLowerInvariant();
}
