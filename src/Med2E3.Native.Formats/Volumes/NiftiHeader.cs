namespace Med2E3.Native.Formats.Volumes;

/// <summary>The fields of a NIfTI-1 or NIfTI-2 header that the reader uses, widened to a common form.</summary>
public sealed class NiftiHeader
{
    /// <summary>1 for NIfTI-1 (348-byte header), 2 for NIfTI-2 (540-byte header).</summary>
    public int Version { get; init; }

    /// <summary>True when the header (and the data) are big-endian, detected from sizeof_hdr.</summary>
    public bool BigEndian { get; init; }

    /// <summary>dim[0..7]: dim[0] is the number of dimensions, dim[1..3] the sizes along i, j, k.</summary>
    public long[] Dim { get; init; } = new long[8];

    /// <summary>NIfTI datatype code (2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, 256 int8, …).</summary>
    public int Datatype { get; init; }

    /// <summary>Bits per voxel.</summary>
    public int Bitpix { get; init; }

    /// <summary>pixdim[0..7]: pixdim[0] is qfac (±1), pixdim[1..3] the voxel sizes.</summary>
    public double[] Pixdim { get; init; } = new double[8];

    /// <summary>Byte offset of the voxel data in the (decompressed) file.</summary>
    public double VoxOffset { get; init; }

    /// <summary>Intensity scaling: value = raw · scl_slope + scl_inter; slope 0 means no scaling.</summary>
    public double SclSlope { get; init; }

    /// <summary>Intensity offset, used only when <see cref="SclSlope"/> is not 0.</summary>
    public double SclInter { get; init; }

    /// <summary>qform_code: &gt; 0 when the quaternion fields are valid.</summary>
    public int QformCode { get; init; }

    /// <summary>sform_code: &gt; 0 when srow_x/y/z are valid.</summary>
    public int SformCode { get; init; }

    /// <summary>quatern_b, quatern_c, quatern_d.</summary>
    public double[] Quatern { get; init; } = new double[3];

    /// <summary>qoffset_x, qoffset_y, qoffset_z.</summary>
    public double[] QOffset { get; init; } = new double[3];

    /// <summary>srow_x, srow_y, srow_z as a 3×4 matrix: world = S · (i, j, k, 1).</summary>
    public double[,] Srow { get; init; } = new double[3, 4];

    /// <summary>The description text (descrip).</summary>
    public string Description { get; init; } = "";
}
