namespace Med2E3.Native.Tensors;

/// <summary>Element type of a tensor.</summary>
public enum DType
{
    /// <summary>IEEE binary32.</summary>
    F32,
    /// <summary>IEEE binary64 (gradient checks, oracles).</summary>
    F64,
    /// <summary>bfloat16, stored as the upper 16 bits of a binary32 (raw <see cref="ushort"/>).</summary>
    BF16,
    /// <summary>IEEE binary16 (<see cref="System.Half"/>).</summary>
    F16,
    /// <summary>32-bit signed integer.</summary>
    I32,
    /// <summary>64-bit signed integer (token ids, targets).</summary>
    I64,
    /// <summary>Boolean, one byte per element.</summary>
    Bool,
}

/// <summary>Helpers over <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>Size of one element in bytes.</summary>
    public static int SizeOf(this DType t) => t switch
    {
        DType.F32 => 4,
        DType.F64 => 8,
        DType.BF16 => 2,
        DType.F16 => 2,
        DType.I32 => 4,
        DType.I64 => 8,
        DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "DType.cs: unknown dtype"),
    };

    /// <summary>True for F32, F64, BF16 and F16.</summary>
    public static bool IsFloating(this DType t) => t is DType.F32 or DType.F64 or DType.BF16 or DType.F16;

    /// <summary>True for the 16-bit float types that the CPU computes in F32 and rounds.</summary>
    public static bool IsHalfPrecision(this DType t) => t is DType.BF16 or DType.F16;

    /// <summary>True for I32 and I64.</summary>
    public static bool IsInteger(this DType t) => t is DType.I32 or DType.I64;

    /// <summary>The dtype that stores the CLR type <typeparamref name="T"/> (ushort maps to BF16).</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.F32;
        if (typeof(T) == typeof(double)) return DType.F64;
        if (typeof(T) == typeof(ushort)) return DType.BF16;
        if (typeof(T) == typeof(Half)) return DType.F16;
        if (typeof(T) == typeof(int)) return DType.I32;
        if (typeof(T) == typeof(long)) return DType.I64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"DType.cs: no dtype for CLR type {typeof(T).Name}");
    }

    /// <summary>Lower-case name (f32, bf16, …).</summary>
    public static string Name(this DType t) => t.ToString().ToLowerInvariant();
}
