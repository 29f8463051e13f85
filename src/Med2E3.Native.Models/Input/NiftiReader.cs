using System.Buffers.Binary;
using System.Text;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// Reads single-file NIfTI-1 and NIfTI-2 volumes (.nii, and .nii.gz detected from the gzip magic) of either byte order
/// into the canonical (D, H, W) layout described on <see cref="Volume"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Byte order is detected from sizeof_hdr (348 or 540 read in either order).</item>
/// <item>Datatypes: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64.</item>
/// <item>dim[0] must be 3, or 4 with dim[4] = 1.</item>
/// <item>Intensities: value = raw · scl_slope + scl_inter in float64, rounded to float32; slope 0 means unscaled.</item>
/// <item>Orientation from the sform when sform_code &gt; 0, else the qform (quaternion) when qform_code &gt; 0, else
/// pixdim alone (NIfTI "method 1": i → R, j → A, k → S); then permuted and flipped by
/// <see cref="Orientation.ToCanonical"/>.</item>
/// </list>
/// </remarks>
public static class NiftiReader
{
    /// <summary>Largest run of header extensions skipped before the voxels (real files carry kilobytes).</summary>
    public const long MaxExtensionBytes = 256L << 20;

    /// <summary>Reads a .nii or .nii.gz file.</summary>
    /// <exception cref="VolumeFormatException">the file is not a readable single-volume NIfTI image.</exception>
    public static Volume Read(string path, VolumeReadOptions? options = null)
    {
        using var file = VolumeReader.OpenFile(path);
        using var decoded = StreamUtil.Decode(file, path);
        return Read(decoded, path, options);
    }

    /// <summary>Reads NIfTI content from <paramref name="stream"/>; <paramref name="path"/> names it in messages.</summary>
    public static Volume Read(Stream stream, string path, VolumeReadOptions? options = null)
    {
        options ??= VolumeReadOptions.Default;
        var header = ReadHeader(stream, path);
        var warnings = new List<string>();

        var type = DataType(header, path);
        var (ni, nj, nk) = Sizes(header, path, options);
        int headerSize = header.Version == 1 ? 348 : 540;
        double off = header.VoxOffset;
        if (!double.IsFinite(off) || off != Math.Floor(off) || off < headerSize || off > (double)(1L << 48))
        {
            throw new VolumeFormatException(path,
                $"bad vox_offset {off} (expected a whole number of bytes ≥ {headerSize}, the header size)");
        }

        long skip = (long)off - headerSize;
        if (skip > MaxExtensionBytes)
        {
            throw new VolumeFormatException(path,
                $"bad vox_offset {(long)off}: {skip} bytes of header extensions, more than the {MaxExtensionBytes} allowed");
        }

        long skipped = StreamUtil.Skip(stream, skip, path);
        if (skipped < skip)
        {
            throw new VolumeFormatException(path,
                $"truncated file: vox_offset is {(long)off} but the file ends after {headerSize + skipped} bytes");
        }

        double slope = header.SclSlope;
        double inter = header.SclInter;
        bool scale = slope != 0 && !(slope == 1 && inter == 0);
        if (scale && !double.IsFinite(slope))
        {
            warnings.Add($"scl_slope is {slope}; intensities left unscaled");
            scale = false;
        }
        else if (scale && !double.IsFinite(inter))
        {
            warnings.Add($"scl_inter is {inter}; treated as 0");
            inter = 0;
        }

        // The data must be in the file before the voxels are allocated.
        string where = $"at offset {(long)off}";
        long voxels = (long)ni * nj * nk;
        long bytes = voxels * VoxelTypeInfo.Size(type);
        StreamUtil.EnsureAvailable(stream, bytes, path, have => VoxelDecoder.Truncated(bytes, type, where, have));
        var raw = new float[voxels];
        VoxelDecoder.Read(stream, type, header.BigEndian, raw, scale, slope, inter, path, where);

        var (matrix, source) = WorldMatrix(header, warnings);
        var axes = Orientation.AxesFromMatrix(matrix)!.Value;
        var data = Orientation.ToCanonical(raw, ni, nj, nk, axes.WorldAxis, axes.Sign, out int d, out int h, out int w);
        if (VoxelDecoder.CheckFinite(data, h, w, options.NonFinite, path) is { } warning)
        {
            warnings.Add(warning);
        }

        var spacing = new double[3];
        for (int v = 0; v < 3; v++)
        {
            double len = Math.Sqrt(matrix[0, v] * matrix[0, v] + matrix[1, v] * matrix[1, v] + matrix[2, v] * matrix[2, v]);
            spacing[2 - axes.WorldAxis[v]] = len;
        }

        return new Volume(data, d, h, w, path, header.Version == 1 ? VolumeFileFormat.Nifti1 : VolumeFileFormat.Nifti2)
        {
            SpacingMm = (spacing[0], spacing[1], spacing[2]),
            SourceAxisCodes = Orientation.AxisCodes(axes.WorldAxis, axes.Sign),
            OrientationSource = source,
            Warnings = warnings,
        };
    }

    /// <summary>
    /// The 3×3 voxel-to-world (RAS+, mm) matrix: the sform if sform_code &gt; 0 and it is usable, else the qform if
    /// qform_code &gt; 0, else diag(pixdim[1..3]).
    /// </summary>
    private static (double[,] M, string Source) WorldMatrix(NiftiHeader hd, List<string> warnings)
    {
        if (hd.SformCode > 0)
        {
            var m = new double[3, 3];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 3; c++)
                {
                    m[r, c] = hd.Srow[r, c];
                }
            }

            if (Orientation.AxesFromMatrix(m) is not null)
            {
                return (m, "sform");
            }

            warnings.Add($"sform (sform_code {hd.SformCode}) is singular or not finite; ignored");
        }

        if (hd.QformCode > 0)
        {
            var q = hd.Quatern;
            var m = Orientation.QuaternionToMatrix(q[0], q[1], q[2], hd.Pixdim[0], hd.Pixdim[1], hd.Pixdim[2], hd.Pixdim[3]);
            if (Orientation.AxesFromMatrix(m) is not null)
            {
                return (m, "qform");
            }

            warnings.Add($"qform (qform_code {hd.QformCode}) is not a valid rotation; ignored");
        }
        else
        {
            warnings.Add("no sform or qform: orientation taken as i → R, j → A, k → S (NIfTI method 1)");
        }

        var p = new double[3];
        for (int v = 0; v < 3; v++)
        {
            // A voxel size whose square underflows or overflows (NIfTI-2 stores doubles) cannot orient anything.
            double x = Math.Abs(hd.Pixdim[v + 1]);
            p[v] = x is >= 1e-100 and <= 1e100 ? x : 1.0;
        }

        return (new double[,] { { p[0], 0, 0 }, { 0, p[1], 0 }, { 0, 0, p[2] } }, "pixdim");
    }

    private static (int Ni, int Nj, int Nk) Sizes(NiftiHeader hd, string path, VolumeReadOptions options)
    {
        var dim = hd.Dim;
        if (dim[0] == 4 && dim[4] != 1)
        {
            throw new VolumeFormatException(path,
                $"4-D image with dim[4] = {dim[4]}; only a single volume (dim[4] = 1) is supported");
        }

        if (dim[0] is not (3 or 4))
        {
            throw new VolumeFormatException(path,
                $"dim[0] = {dim[0]}; only 3-D volumes (dim[0] = 3, or 4 with dim[4] = 1) are supported");
        }

        for (int a = 1; a <= 3; a++)
        {
            if (dim[a] < 1)
            {
                throw new VolumeFormatException(path, $"dim[{a}] = {dim[a]}; every spatial size must be at least 1");
            }
        }

        long limit = Math.Min(options.MaxVoxels, VolumeReadOptions.HardMaxVoxels);
        Int128 voxels = (Int128)dim[1] * dim[2] * dim[3];
        if (dim[1] > limit || dim[2] > limit || dim[3] > limit || voxels > limit)
        {
            throw new VolumeFormatException(path,
                $"dims {dim[1]}×{dim[2]}×{dim[3]} = {voxels} voxels, more than the limit of {limit} (VolumeReadOptions.MaxVoxels)");
        }

        return ((int)dim[1], (int)dim[2], (int)dim[3]);
    }

    private static VoxelType DataType(NiftiHeader hd, string path)
    {
        (VoxelType? type, string name) = hd.Datatype switch
        {
            2 => ((VoxelType?)VoxelType.UInt8, "uint8"),
            4 => (VoxelType.Int16, "int16"),
            8 => (VoxelType.Int32, "int32"),
            16 => (VoxelType.Float32, "float32"),
            64 => (VoxelType.Float64, "float64"),
            256 => (VoxelType.Int8, "int8"),
            512 => (VoxelType.UInt16, "uint16"),
            768 => (VoxelType.UInt32, "uint32"),
            1024 => (VoxelType.Int64, "int64"),
            1280 => (VoxelType.UInt64, "uint64"),
            0 => (null, "unknown"),
            1 => (null, "binary"),
            32 => (null, "complex64"),
            128 => (null, "RGB24"),
            1536 => (null, "float128"),
            1792 => (null, "complex128"),
            2048 => (null, "complex256"),
            2304 => (null, "RGBA32"),
            _ => (null, "not a NIfTI code"),
        };
        if (type is not { } t)
        {
            throw new VolumeFormatException(path,
                $"unsupported datatype {hd.Datatype} ({name}); supported: uint8, int8, int16, uint16, int32, uint32, " +
                "int64, uint64, float32, float64");
        }

        if (hd.Bitpix != 8 * VoxelTypeInfo.Size(t))
        {
            throw new VolumeFormatException(path,
                $"bitpix {hd.Bitpix} does not match datatype {hd.Datatype} ({name}, {8 * VoxelTypeInfo.Size(t)} bits)");
        }

        return t;
    }

    /// <summary>Reads and decodes the header; the stream is left just after it (348 or 540 bytes in).</summary>
    public static NiftiHeader ReadHeader(Stream stream, string path)
    {
        var buf = new byte[540];
        int got = StreamUtil.ReadAtMost(stream, buf.AsSpan(0, 4), path);
        if (got < 4)
        {
            throw new VolumeFormatException(path, $"not a NIfTI file: only {got} bytes");
        }

        int le = BinaryPrimitives.ReadInt32LittleEndian(buf);
        int be = BinaryPrimitives.ReadInt32BigEndian(buf);
        int version = le == 348 || be == 348 ? 1 : le == 540 || be == 540 ? 2 : 0;
        if (version == 0)
        {
            throw new VolumeFormatException(path,
                $"not a NIfTI file: sizeof_hdr is {le} (expected 348 for NIfTI-1 or 540 for NIfTI-2, in either byte order)");
        }

        bool big = le != 348 && le != 540;
        int size = version == 1 ? 348 : 540;
        got = 4 + StreamUtil.ReadAtMost(stream, buf.AsSpan(4, size - 4), path);
        if (got < size)
        {
            throw new VolumeFormatException(path,
                $"truncated NIfTI-{version} header: expected {size} bytes, the file ends after {got}");
        }

        var r = new HeaderReader(buf, big);
        return version == 1 ? Nifti1(r, path) : Nifti2(r, path);
    }

    private static NiftiHeader Nifti1(HeaderReader r, string path)
    {
        string magic = r.Text(344, 4);
        if (magic == "ni1")
        {
            throw new VolumeFormatException(path,
                "NIfTI-1 header/image pair (magic 'ni1'): the voxels are in a separate .img file, which is not supported");
        }

        if (magic != "n+1")
        {
            throw new VolumeFormatException(path, $"bad NIfTI-1 magic {StreamUtil.Hex(r.Bytes(344, 4))} (expected 'n+1')");
        }

        return new NiftiHeader
        {
            Version = 1,
            BigEndian = r.BigEndian,
            Dim = [.. Enumerable.Range(0, 8).Select(i => (long)r.I16(40 + 2 * i))],
            Datatype = r.I16(70),
            Bitpix = r.I16(72),
            Pixdim = [.. Enumerable.Range(0, 8).Select(i => (double)r.F32(76 + 4 * i))],
            VoxOffset = r.F32(108),
            SclSlope = r.F32(112),
            SclInter = r.F32(116),
            Description = r.Text(148, 80),
            QformCode = r.I16(252),
            SformCode = r.I16(254),
            Quatern = [r.F32(256), r.F32(260), r.F32(264)],
            QOffset = [r.F32(268), r.F32(272), r.F32(276)],
            Srow = Matrix(i => r.F32(280 + 4 * i)),
        };
    }

    private static NiftiHeader Nifti2(HeaderReader r, string path)
    {
        string magic = r.Text(4, 4);
        if (magic == "ni2")
        {
            throw new VolumeFormatException(path,
                "NIfTI-2 header/image pair (magic 'ni2'): the voxels are in a separate .img file, which is not supported");
        }

        if (magic != "n+2")
        {
            throw new VolumeFormatException(path, $"bad NIfTI-2 magic {StreamUtil.Hex(r.Bytes(4, 4))} (expected 'n+2')");
        }

        if (!r.Bytes(8, 4).SequenceEqual(new byte[] { 0x0D, 0x0A, 0x1A, 0x0A }))
        {
            throw new VolumeFormatException(path,
                $"NIfTI-2 end-of-line check bytes are {StreamUtil.Hex(r.Bytes(8, 4))} (expected 0D 0A 1A 0A): " +
                "the file was altered by a text-mode transfer");
        }

        return new NiftiHeader
        {
            Version = 2,
            BigEndian = r.BigEndian,
            Datatype = r.I16(12),
            Bitpix = r.I16(14),
            Dim = [.. Enumerable.Range(0, 8).Select(i => r.I64(16 + 8 * i))],
            Pixdim = [.. Enumerable.Range(0, 8).Select(i => r.F64(104 + 8 * i))],
            VoxOffset = r.I64(168),
            SclSlope = r.F64(176),
            SclInter = r.F64(184),
            Description = r.Text(240, 80),
            QformCode = r.I32(344),
            SformCode = r.I32(348),
            Quatern = [r.F64(352), r.F64(360), r.F64(368)],
            QOffset = [r.F64(376), r.F64(384), r.F64(392)],
            Srow = Matrix(i => r.F64(400 + 8 * i)),
        };
    }

    private static double[,] Matrix(Func<int, double> at)
    {
        var m = new double[3, 4];
        for (int i = 0; i < 12; i++)
        {
            m[i / 4, i % 4] = at(i);
        }

        return m;
    }

    private sealed class HeaderReader(byte[] buf, bool bigEndian)
    {
        public bool BigEndian => bigEndian;

        public ReadOnlySpan<byte> Bytes(int at, int n) => buf.AsSpan(at, n);

        public short I16(int at) => bigEndian
            ? BinaryPrimitives.ReadInt16BigEndian(buf.AsSpan(at))
            : BinaryPrimitives.ReadInt16LittleEndian(buf.AsSpan(at));

        public int I32(int at) => bigEndian
            ? BinaryPrimitives.ReadInt32BigEndian(buf.AsSpan(at))
            : BinaryPrimitives.ReadInt32LittleEndian(buf.AsSpan(at));

        public long I64(int at) => bigEndian
            ? BinaryPrimitives.ReadInt64BigEndian(buf.AsSpan(at))
            : BinaryPrimitives.ReadInt64LittleEndian(buf.AsSpan(at));

        public float F32(int at) => bigEndian
            ? BinaryPrimitives.ReadSingleBigEndian(buf.AsSpan(at))
            : BinaryPrimitives.ReadSingleLittleEndian(buf.AsSpan(at));

        public double F64(int at) => bigEndian
            ? BinaryPrimitives.ReadDoubleBigEndian(buf.AsSpan(at))
            : BinaryPrimitives.ReadDoubleLittleEndian(buf.AsSpan(at));

        public string Text(int at, int n)
        {
            var s = buf.AsSpan(at, n);
            int end = s.IndexOf((byte)0);
            return Encoding.Latin1.GetString(end < 0 ? s : s[..end]);
        }
    }
}
