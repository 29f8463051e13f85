using System.Buffers.Binary;
using System.Text;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// Reads single-file NIfTI-1 and NIfTI-2 volumes (.nii, and .nii.gz detected from the gzip magic) of either byte order
/// into the canonical (D, H, W) layout described on <see cref="Volume"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Byte order is detected from sizeof_hdr (348 or 540 read in either order).</item>
/// <item>Datatypes: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64.</item>
/// <item>dim[0] must be 3, or 4 (a series of dim[4] volumes, one picked with <see cref="VolumeReadOptions.Frame"/>),
/// higher dims 1.</item>
/// <item>Intensities: value = raw · scl_slope + scl_inter in float64, rounded to float32; slope 0 means unscaled.</item>
/// <item>Orientation exactly as nibabel gives it: the sform when sform_code ≠ 0, else the qform (quaternion) when
/// qform_code ≠ 0, else pixdim alone in the Analyze convention (i → L, j → A, k → S); the axes from
/// <see cref="Orientation.AxesFromMatrix"/> (nibabel's <c>io_orientation</c>). The voxels are decoded straight
/// into the canonical order (<see cref="Orientation.Layout"/>), so no second full-size array is made.</item>
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
        var (ni, nj, nk, frames) = Sizes(header, path, options);
        int frame = PickFrame(frames, options.Frame, path);
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

        long frameBytes = (long)ni * nj * nk * VoxelTypeInfo.Size(type);
        skip += frame * frameBytes;
        long skipped = StreamUtil.Skip(stream, skip, path);
        if (skipped < skip)
        {
            throw new VolumeFormatException(path, frame == 0
                ? $"truncated file: vox_offset is {(long)off} but the file ends after {headerSize + skipped} bytes"
                : $"truncated data: frame {frame} starts at byte {(long)off + frame * frameBytes} but the file ends " +
                  $"after {headerSize + skipped} bytes");
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
        string where = frames > 1 ? $"of frame {frame} at offset {(long)off + frame * frameBytes}" : $"at offset {(long)off}";
        StreamUtil.EnsureAvailable(stream, frameBytes, path, have => VoxelDecoder.Truncated(frameBytes, type, where, have));

        var (matrix, source) = WorldMatrix(header, ni, nj, nk, warnings);
        var axes = Orientation.AxesFromMatrix(matrix)!.Value;
        var layout = Orientation.Layout(ni, nj, nk, axes.WorldAxis, axes.Sign);
        var data = new float[(long)ni * nj * nk];
        VoxelDecoder.Read(stream, type, header.BigEndian, data, layout, ni, nj, nk, scale, slope, inter, path, where);
        int d = layout.D, h = layout.H, w = layout.W;
        if (VoxelDecoder.CheckFinite(data, h, w, options.NonFinite, path) is { } warning)
        {
            warnings.Add(warning);
        }

        var affine = Orientation.CanonicalAffine(matrix, ni, nj, nk, axes.WorldAxis, axes.Sign);
        return new Volume(data, d, h, w, path, header.Version == 1 ? VolumeFileFormat.Nifti1 : VolumeFileFormat.Nifti2)
        {
            SpacingMm = Orientation.Spacing(affine),
            Affine = affine,
            SourceAxisCodes = Orientation.AxisCodes(axes.WorldAxis, axes.Sign),
            OrientationSource = source,
            FormatDetails = $"NIfTI-{header.Version}{(header.BigEndian ? " big-endian" : "")}, {VoxelTypeInfo.Name(type)} " +
                $"stored {ni}×{nj}×{nk} (i, j, k)" + (frames > 1 ? $", frame {frame} of {frames}" : "") +
                (scale ? $", scl_slope {slope} scl_inter {inter}" : ""),
            Frame = frames > 1 ? frame : null,
            Warnings = warnings,
        };
    }

    /// <summary>
    /// The frame to read of an image with <paramref name="frames"/> frames: <paramref name="requested"/>, which must
    /// exist; when none is requested, the only one.
    /// </summary>
    internal static int PickFrame(long frames, int? requested, string path)
    {
        if (requested is { } f)
        {
            if (f < 0 || f >= frames)
            {
                throw new VolumeFormatException(path, frames == 1
                    ? $"frame {f} does not exist: the image has a single frame (0)"
                    : $"frame {f} does not exist: the image has {frames} frames (0 to {frames - 1})");
            }

            return f;
        }

        if (frames > 1)
        {
            throw new VolumeFormatException(path,
                $"4-D image with {frames} frames (dim[4] = {frames}); choose one with --frame N " +
                $"(VolumeReadOptions.Frame), 0 to {frames - 1}");
        }

        return 0;
    }

    /// <summary>
    /// The 3×4 voxel-to-world (RAS+, mm) matrix world = M·(i, j, k, 1), chosen as nibabel's
    /// <c>get_best_affine</c> chooses it after nibabel's header fixes on load (codes outside 0–5 read as 0; qfac
    /// other than ±1 read as 1; pixdim[1..3] taken as |pixdim|, 0 — or a size whose square under- or overflows — as 1): the sform if sform_code ≠ 0, else the
    /// qform if qform_code ≠ 0, else the Analyze affine diag(−pixdim[1], pixdim[2], pixdim[3]) centred on the
    /// volume (i → L, j → A, k → S). An sform or qform that cannot give an orientation (singular, not finite, not
    /// a rotation) is skipped with a warning, where nibabel would fail.
    /// </summary>
    private static (double[,] M, string Source) WorldMatrix(NiftiHeader hd, int ni, int nj, int nk, List<string> warnings)
    {
        int sformCode = XformCode(hd.SformCode, "sform_code", warnings);
        int qformCode = XformCode(hd.QformCode, "qform_code", warnings);
        var zoom = new double[3];
        for (int v = 0; v < 3; v++)
        {
            // A voxel size whose square underflows or overflows (NIfTI-2 stores doubles) cannot orient anything.
            double x = Math.Abs(hd.Pixdim[v + 1]);
            zoom[v] = x is >= 1e-100 and <= 1e100 ? x : 1.0;
        }

        if (sformCode != 0)
        {
            var m = new double[3, 4];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    m[r, c] = hd.Srow[r, c];
                }
            }

            if (Orientation.AxesFromMatrix(m) is not null && double.IsFinite(m[0, 3] + m[1, 3] + m[2, 3]))
            {
                return (m, "sform");
            }

            warnings.Add($"sform (sform_code {hd.SformCode}) is singular or not finite; ignored");
        }

        if (qformCode != 0)
        {
            var q = hd.Quatern;
            double qfac = hd.Pixdim[0] is 1 or -1 ? hd.Pixdim[0] : 1;
            var r = Orientation.QuaternionToMatrix(q[0], q[1], q[2], qfac, zoom[0], zoom[1], zoom[2]);
            if (r is not null && Orientation.AxesFromMatrix(r) is not null
                && double.IsFinite(hd.QOffset[0] + hd.QOffset[1] + hd.QOffset[2]))
            {
                return (new double[,]
                {
                    { r[0, 0], r[0, 1], r[0, 2], hd.QOffset[0] },
                    { r[1, 0], r[1, 1], r[1, 2], hd.QOffset[1] },
                    { r[2, 0], r[2, 1], r[2, 2], hd.QOffset[2] },
                }, "qform");
            }

            warnings.Add($"qform (qform_code {hd.QformCode}) is not a valid rotation; ignored");
        }
        else
        {
            warnings.Add("no sform or qform: orientation from pixdim in the Analyze convention that nibabel uses " +
                "(i → L, j → A, k → S)");
        }

        // nibabel's shape_zoom_affine with the x flip: the origin is the volume's centre.
        return (new double[,]
        {
            { -zoom[0], 0, 0, (ni - 1) / 2.0 * zoom[0] },
            { 0, zoom[1], 0, -(nj - 1) / 2.0 * zoom[1] },
            { 0, 0, zoom[2], -(nk - 1) / 2.0 * zoom[2] },
        }, "pixdim");
    }

    // NIfTI xform codes are 0 (unknown) to 5 (template); nibabel resets any other value to 0 when it loads a header.
    private static int XformCode(int code, string field, List<string> warnings)
    {
        if (code is >= 0 and <= 5)
        {
            return code;
        }

        warnings.Add($"{field} {code} is not a NIfTI xform code (0 to 5); treated as 0, as nibabel does");
        return 0;
    }

    private static (int Ni, int Nj, int Nk, long Frames) Sizes(NiftiHeader hd, string path, VolumeReadOptions options)
    {
        var dim = hd.Dim;
        if (dim[0] is < 3 or > 7)
        {
            throw new VolumeFormatException(path,
                $"dim[0] = {dim[0]}; only 3-D volumes (dim[0] = 3) and 4-D series of volumes (dim[0] = 4) are supported");
        }

        for (int a = 1; a <= 3; a++)
        {
            if (dim[a] < 1)
            {
                throw new VolumeFormatException(path, $"dim[{a}] = {dim[a]}; every spatial size must be at least 1");
            }
        }

        long frames = dim[0] >= 4 ? dim[4] : 1;
        if (frames < 1)
        {
            throw new VolumeFormatException(path, $"dim[4] = {frames}; a 4-D image needs at least one frame");
        }

        for (int a = 5; a <= dim[0]; a++)
        {
            if (dim[a] != 1)
            {
                throw new VolumeFormatException(path,
                    $"dim[0] = {dim[0]} with dim[{a}] = {dim[a]}; only 3-D volumes and 4-D series of volumes " +
                    "(dims above the 4th equal to 1) are supported");
            }
        }

        long limit = Math.Min(options.MaxVoxels, VolumeReadOptions.HardMaxVoxels);
        Int128 voxels = (Int128)dim[1] * dim[2] * dim[3];
        if (dim[1] > limit || dim[2] > limit || dim[3] > limit || voxels > limit)
        {
            throw new VolumeFormatException(path,
                $"dims {dim[1]}×{dim[2]}×{dim[3]} = {voxels} voxels, more than the limit of {limit} (VolumeReadOptions.MaxVoxels)");
        }

        return ((int)dim[1], (int)dim[2], (int)dim[3], frames);
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
