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

    /// <summary>
    /// The frame (0-based) to read from a 4-D NIfTI image (dim[4] &gt; 1), as nibabel's <c>dataobj[..., N]</c>.
    /// Null: the file must hold a single volume. A 3-D file has only frame 0.
    /// </summary>
    public int? Frame { get; init; }

    /// <summary>
    /// Which DICOM series to read when a folder holds several: a SeriesInstanceUID, or its 1-based number in the
    /// list of series that reading an ambiguous folder prints. Null: the folder must hold
    /// exactly one.
    /// </summary>
    public string? Series { get; init; }
}
