namespace Med2E3.Native.Formats.Volumes;

/// <summary>Options shared by the volume readers.</summary>
public sealed record VolumeReadOptions
{
    /// <summary>
    /// The default voxel cap, 2^28 = 268,435,456 voxels (1 GiB as float32), e.g. 1024 × 512 × 512: a CT at its full
    /// resolution fits (a 600 × 512 × 512 abdominal CT has 157 million voxels), while a header claiming more is refused
    /// before anything is read. The model itself takes 32 × 256 × 256; raise <see cref="MaxVoxels"/> for larger scans.
    /// </summary>
    public const long DefaultMaxVoxels = 1L << 28;

    /// <summary>The ceiling of <see cref="MaxVoxels"/>: <see cref="Array.MaxLength"/>, the longest <c>float[]</c> .NET holds.</summary>
    public static long HardMaxVoxels => Array.MaxLength;

    /// <summary>The default options: non-finite voxels are an error, at most <see cref="DefaultMaxVoxels"/> voxels.</summary>
    public static VolumeReadOptions Default { get; } = new();

    /// <summary>What to do with NaN or ±Inf voxels (after NIfTI intensity scaling).</summary>
    public NonFinitePolicy NonFinite { get; init; } = NonFinitePolicy.Error;

    /// <summary>
    /// Largest accepted voxel count, checked from the header before anything is allocated (the data is then checked to
    /// be in the file, also before allocating). Values above <see cref="HardMaxVoxels"/> count as that.
    /// </summary>
    public long MaxVoxels { get; init; } = DefaultMaxVoxels;

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
