namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// One single-channel volume as read from disk, in the model's canonical (D, H, W) layout: row-major, W fastest.
/// </summary>
/// <remarks>
/// <para>
/// Canonical orientation (NIfTI inputs are permuted and flipped into it; .npy inputs are taken as already in it):
/// D runs over axial slices from superior to inferior (head → feet), H over rows from anterior to posterior, and W
/// over columns from the patient's right to the patient's left. An axial slice <c>Data[d, :, :]</c> drawn with row 0
/// at the top therefore shows the radiological view used by clinical viewers (looking up from the feet: anterior at
/// the top, the patient's right on the left of the screen). In NIfTI axis codes, listing the fastest axis first, the
/// array is "LPI": W increases towards L, H towards P, D towards I of the RAS+ world.
/// </para>
/// </remarks>
public sealed class Volume
{
    /// <summary>Wraps <paramref name="data"/> (not copied) of shape (<paramref name="depth"/>, <paramref name="height"/>, <paramref name="width"/>).</summary>
    public Volume(float[] data, int depth, int height, int width, string filePath, VolumeFileFormat format)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (depth < 1 || height < 1 || width < 1 || (long)depth * height * width != data.LongLength)
        {
            throw new ArgumentException(
                $"data has {data.LongLength} values, which is not {depth}×{height}×{width}", nameof(data));
        }

        Data = data;
        Depth = depth;
        Height = height;
        Width = width;
        FilePath = filePath;
        Format = format;
    }

    /// <summary>Voxel values, (D, H, W) row-major. NIfTI values have scl_slope/scl_inter applied.</summary>
    public float[] Data { get; }

    /// <summary>D: number of axial slices.</summary>
    public int Depth { get; }

    /// <summary>H: rows per slice.</summary>
    public int Height { get; }

    /// <summary>W: columns per slice.</summary>
    public int Width { get; }

    /// <summary>The file the volume came from.</summary>
    public string FilePath { get; }

    /// <summary>The container format.</summary>
    public VolumeFileFormat Format { get; }

    /// <summary>
    /// The format in detail, for messages: e.g. "NIfTI-1, int16 stored 512×512×300 (i, j, k), scl_slope 1 scl_inter
    /// -1024" or "DICOM series 1.2.3… (CT, 300 files, Explicit VR Little Endian)".
    /// </summary>
    public string? FormatDetails { get; init; }

    /// <summary>Voxel size in mm along (D, H, W); null when the file carries none (.npy).</summary>
    public (double D, double H, double W)? SpacingMm { get; init; }

    /// <summary>
    /// Orientation of the stored axes before reorientation, as NIfTI axis codes (fastest axis first, e.g. "RAS"),
    /// or null for .npy files, which carry none.
    /// </summary>
    public string? SourceAxisCodes { get; init; }

    /// <summary>
    /// Which header fields gave the orientation: "sform", "qform", "pixdim" (NIfTI), "ImagePositionPatient" (DICOM)
    /// or null (.npy).
    /// </summary>
    public string? OrientationSource { get; init; }

    /// <summary>
    /// The 4×4 affine of <see cref="Data"/>: (w, h, d, 1) → RAS+ world coordinates in mm, i.e. the NIfTI affine of
    /// the canonical array stored with W fastest (its columns point towards L, P and I up to obliquity). Null when the
    /// file carries no geometry (.npy).
    /// </summary>
    public double[,]? Affine { get; init; }

    /// <summary>The frame that was read of a 4-D file (NIfTI dim[4] &gt; 1), else null.</summary>
    public int? Frame { get; init; }

    /// <summary>
    /// True for DICOM MONOCHROME1 images, whose lowest value is meant to be displayed white: preprocessing inverts
    /// the scaled values (1 − x) so that the model sees them as a viewer shows them. <see cref="Data"/> itself holds
    /// the modality values (e.g. Hounsfield units) in either case.
    /// </summary>
    public bool DisplayInverted { get; init; }

    /// <summary>Non-fatal findings of the reader (replaced NaN voxels, ignored scaling, orientation fallbacks).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The number of voxels, D·H·W.</summary>
    public int VoxelCount => Data.Length;
}
