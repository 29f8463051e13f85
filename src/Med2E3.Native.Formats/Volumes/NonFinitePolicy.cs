namespace Med2E3.Native.Formats.Volumes;

/// <summary>What a reader does with NaN or infinite voxels.</summary>
public enum NonFinitePolicy
{
    /// <summary>Throw <see cref="VolumeFormatException"/> naming the count and the first position (the default).</summary>
    Error,

    /// <summary>Replace each NaN or ±Inf voxel with 0 and add a warning to <see cref="Volume.Warnings"/>.</summary>
    ReplaceWithZero,
}
