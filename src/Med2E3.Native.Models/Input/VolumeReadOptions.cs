namespace Med2E3.Native.Models.Input;

/// <summary>Options shared by the volume readers.</summary>
public sealed record VolumeReadOptions
{
    /// <summary>The default options: non-finite voxels are an error, at most 2^30 voxels.</summary>
    public static VolumeReadOptions Default { get; } = new();

    /// <summary>What to do with NaN or ±Inf voxels (after NIfTI intensity scaling).</summary>
    public NonFinitePolicy NonFinite { get; init; } = NonFinitePolicy.Error;

    /// <summary>
    /// Largest accepted voxel count. The default, 2^30 (4 GiB as float32), rejects absurd headers before anything is
    /// allocated; the hard ceiling is <see cref="Array.MaxLength"/>, the longest <c>float[]</c> .NET can hold.
    /// </summary>
    public long MaxVoxels { get; init; } = 1L << 30;
}
