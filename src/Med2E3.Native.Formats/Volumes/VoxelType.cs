namespace Med2E3.Native.Formats.Volumes;

/// <summary>Element types the readers decode (npy dtypes and NIfTI datatypes map onto these).</summary>
internal enum VoxelType
{
    Bool,
    UInt8,
    Int8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float16,
    Float32,
    Float64,
}

internal static class VoxelTypeInfo
{
    public static int Size(VoxelType t) => t switch
    {
        VoxelType.Bool or VoxelType.UInt8 or VoxelType.Int8 => 1,
        VoxelType.Int16 or VoxelType.UInt16 or VoxelType.Float16 => 2,
        VoxelType.Int32 or VoxelType.UInt32 or VoxelType.Float32 => 4,
        _ => 8,
    };

    public static string Name(VoxelType t) => t switch
    {
        VoxelType.Bool => "bool",
        VoxelType.UInt8 => "uint8",
        VoxelType.Int8 => "int8",
        VoxelType.Int16 => "int16",
        VoxelType.UInt16 => "uint16",
        VoxelType.Int32 => "int32",
        VoxelType.UInt32 => "uint32",
        VoxelType.Int64 => "int64",
        VoxelType.UInt64 => "uint64",
        VoxelType.Float16 => "float16",
        VoxelType.Float32 => "float32",
        _ => "float64",
    };
}
