using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>Voxel storage of <see cref="NiftiWriter"/>.</summary>
public enum NiftiStorage
{
    /// <summary>datatype 16, float32.</summary>
    Float32,

    /// <summary>datatype 4, int16; every value must be a whole number in [−32768, 32767] (e.g. CT in HU).</summary>
    Int16,
}

/// <summary>
/// Writes a canonical (D, H, W) volume as a single-file NIfTI-1 image: either stored the way most tools write it,
/// RAS+ (i → R, j → A, k → S), centred on the origin (the <c>Write</c> overloads), or as it is, W fastest, with a
/// given affine (the <c>WriteWithAffine</c> overloads);
/// sform and qform match (code 1, scanner) so that <see cref="NiftiReader"/> and other readers give back the same array.
/// </summary>
public static class NiftiWriter
{
    /// <summary>
    /// Writes the canonical array <paramref name="data"/> (D, H, W), whose affine is <paramref name="affine"/> ((w, h,
    /// d, 1) → RAS+ mm, see <see cref="Volume.Affine"/>), as float32 with its voxel axes stored as
    /// <paramref name="storedAxes"/> says (axis codes, fastest first, e.g. the source file's
    /// <see cref="Volume.SourceAxisCodes"/>; "LPI", the canonical order itself, by default). The affine of the stored
    /// axes is the sform, and its rotation, voxel sizes and origin the qform (exact unless the affine shears, e.g.
    /// after a gantry tilt: the qform is then the closest rotation, the sform keeps the shear). Stored like its
    /// source, a model input is reoriented by any reader (this one, nibabel) exactly as the source was, even when the
    /// source is so oblique that another axis order would be reoriented differently. Gzip-compressed when the name
    /// ends in ".gz".
    /// </summary>
    public static void WriteWithAffine(string path, ReadOnlySpan<float> data, int d, int h, int w, double[,] affine,
        string description = "", string storedAxes = Orientation.CanonicalAxisCodes)
    {
        using PendingFile file = AtomicFile.Begin(path);
        using (Stream stream = Encoder(file, path, CompressionLevel.Optimal))
        {
            WriteWithAffine(stream, data, d, h, w, affine, description, storedAxes);
        }
        file.Commit();
    }

    // The pending file's stream, through a gzip encoder when the name ends in ".gz"; disposing the result finishes
    // the gzip stream and leaves the pending file open for its commit (written through a temporary sibling, so a
    // full disk leaves no truncated file behind).
    private static Stream Encoder(PendingFile file, string path, CompressionLevel level) =>
        path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file.Stream, level, leaveOpen: true)
            : file.Stream;

    /// <summary>Writes NIfTI-1 content to <paramref name="stream"/> (see the path overload).</summary>
    public static void WriteWithAffine(Stream stream, ReadOnlySpan<float> data, int d, int h, int w, double[,] affine,
        string description = "", string storedAxes = Orientation.CanonicalAxisCodes)
    {
        ArgumentNullException.ThrowIfNull(affine);
        if (d < 1 || h < 1 || w < 1 || (long)d * h * w != data.Length)
        {
            throw new ArgumentException($"data has {data.Length} values, which is not {d}×{h}×{w}", nameof(data));
        }

        if (w > short.MaxValue || h > short.MaxValue || d > short.MaxValue)
        {
            throw new ArgumentException($"size {d}×{h}×{w} exceeds NIfTI-1's 32767 per axis", nameof(data));
        }

        var (worldAxis, sign) = Orientation.FromAxisCodes(storedAxes);
        int[] canonicalSize = [d, h, w];
        int[] n = [.. worldAxis.Select(a => canonicalSize[2 - a])];
        affine = Orientation.StoredAffine(affine, d, h, w, worldAxis, sign);
        var layout = Orientation.Layout(n[0], n[1], n[2], worldAxis, sign);
        var m = new double[3, 3];
        var zoom = new double[3];
        for (int c = 0; c < 3; c++)
        {
            zoom[c] = Math.Sqrt(affine[0, c] * affine[0, c] + affine[1, c] * affine[1, c] + affine[2, c] * affine[2, c]);
            if (!(zoom[c] > 0) || !double.IsFinite(zoom[c]))
            {
                throw new ArgumentException($"affine column {c} is zero or not finite", nameof(affine));
            }

            for (int r = 0; r < 3; r++)
            {
                m[r, c] = affine[r, c] / zoom[c];
            }
        }

        var rotation = Orientation.PolarFactor(m);
        var (b, c2, d2, qfac) = Quaternion(rotation);
        var hdr = Header(n[0], n[1], n[2], 16, 32, [qfac, zoom[0], zoom[1], zoom[2]], description);
        var s = hdr.AsSpan();
        BinaryPrimitives.WriteSingleLittleEndian(s[256..], (float)b);
        BinaryPrimitives.WriteSingleLittleEndian(s[260..], (float)c2);
        BinaryPrimitives.WriteSingleLittleEndian(s[264..], (float)d2);
        for (int r = 0; r < 3; r++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(268 + 4 * r)..], (float)affine[r, 3]);
            for (int c = 0; c < 4; c++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(s[(280 + 16 * r + 4 * c)..], (float)affine[r, c]);
            }
        }

        stream.Write(hdr);
        var row = new byte[4 * n[0]];
        for (int k = 0; k < n[2]; k++)
        {
            for (int j = 0; j < n[1]; j++)
            {
                long o = layout.IndexOf(0, j, k);
                for (int i = 0; i < n[0]; i++, o += layout.StrideI)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), data[(int)o]);
                }

                stream.Write(row);
            }
        }
    }

    /// <summary>
    /// The NIfTI quaternion (b, c, d) and qfac of a rotation (det ±1): a reflection is carried by qfac = −1 on the
    /// third column, as the NIfTI-1 reference library does; a = √(1 + trace) / 2 taken non-negative.
    /// </summary>
    public static (double B, double C, double D, double Qfac) Quaternion(double[,] rotation)
    {
        var r = (double[,])rotation.Clone();
        double det = r[0, 0] * (r[1, 1] * r[2, 2] - r[1, 2] * r[2, 1]) - r[0, 1] * (r[1, 0] * r[2, 2] - r[1, 2] * r[2, 0])
            + r[0, 2] * (r[1, 0] * r[2, 1] - r[1, 1] * r[2, 0]);
        double qfac = det < 0 ? -1 : 1;
        if (qfac < 0)
        {
            for (int i = 0; i < 3; i++)
            {
                r[i, 2] = -r[i, 2];
            }
        }

        // Shepperd's method: build from the largest of a, b, c, d for accuracy.
        double trace = r[0, 0] + r[1, 1] + r[2, 2];
        double a, b, c, d;
        if (trace > 0)
        {
            a = 0.5 * Math.Sqrt(1 + trace);
            b = (r[2, 1] - r[1, 2]) / (4 * a);
            c = (r[0, 2] - r[2, 0]) / (4 * a);
            d = (r[1, 0] - r[0, 1]) / (4 * a);
        }
        else if (r[0, 0] >= r[1, 1] && r[0, 0] >= r[2, 2])
        {
            b = 0.5 * Math.Sqrt(1 + r[0, 0] - r[1, 1] - r[2, 2]);
            a = (r[2, 1] - r[1, 2]) / (4 * b);
            c = (r[0, 1] + r[1, 0]) / (4 * b);
            d = (r[0, 2] + r[2, 0]) / (4 * b);
        }
        else if (r[1, 1] >= r[2, 2])
        {
            c = 0.5 * Math.Sqrt(1 - r[0, 0] + r[1, 1] - r[2, 2]);
            a = (r[0, 2] - r[2, 0]) / (4 * c);
            b = (r[0, 1] + r[1, 0]) / (4 * c);
            d = (r[1, 2] + r[2, 1]) / (4 * c);
        }
        else
        {
            d = 0.5 * Math.Sqrt(1 - r[0, 0] - r[1, 1] + r[2, 2]);
            a = (r[1, 0] - r[0, 1]) / (4 * d);
            b = (r[0, 2] + r[2, 0]) / (4 * d);
            c = (r[1, 2] + r[2, 1]) / (4 * d);
        }

        if (a < 0)
        {
            (b, c, d) = (-b, -c, -d); // the same rotation with a ≥ 0, which the header's (b, c, d) implies
        }

        return (b, c, d, qfac);
    }

    // The 352-byte header (348 + the 4 extension bytes): sizes, datatype, pixdim, vox_offset 352, scaling 1/0, mm + s
    // units, description, qform and sform codes 1; the caller fills the quaternion, offsets and srows.
    private static byte[] Header(int ni, int nj, int nk, short datatype, short bitpix, double[] pixdim0to3,
        string description)
    {
        var hdr = new byte[352];
        var s = hdr.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, 348);
        short[] dim = [3, (short)ni, (short)nj, (short)nk, 1, 1, 1, 1];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(s[(40 + 2 * i)..], dim[i]);
        }

        BinaryPrimitives.WriteInt16LittleEndian(s[70..], datatype);
        BinaryPrimitives.WriteInt16LittleEndian(s[72..], bitpix);
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(76 + 4 * i)..], i < 4 ? (float)pixdim0to3[i] : 1f);
        }

        BinaryPrimitives.WriteSingleLittleEndian(s[108..], 352f); // vox_offset
        BinaryPrimitives.WriteSingleLittleEndian(s[112..], 1f); // scl_slope
        BinaryPrimitives.WriteSingleLittleEndian(s[116..], 0f); // scl_inter
        s[123] = 2 | 8; // xyzt_units: mm, s
        Encoding.ASCII.GetBytes(description.Length > 79 ? description[..79] : description).CopyTo(s[148..]);
        BinaryPrimitives.WriteInt16LittleEndian(s[252..], 1); // qform_code: scanner
        BinaryPrimitives.WriteInt16LittleEndian(s[254..], 1); // sform_code: scanner
        "n+1\0"u8.CopyTo(s[344..]);
        return hdr;
    }

    /// <summary>
    /// Writes <paramref name="data"/> (D, H, W) with voxel size <paramref name="spacingMm"/> (D, H, W) to
    /// <paramref name="path"/>; gzip-compressed when the name ends in ".gz".
    /// </summary>
    public static void Write(
        string path, ReadOnlySpan<float> data, int d, int h, int w, (double D, double H, double W) spacingMm,
        NiftiStorage storage = NiftiStorage.Float32, string description = "")
    {
        using PendingFile file = AtomicFile.Begin(path);
        using (Stream stream = Encoder(file, path, CompressionLevel.SmallestSize))
        {
            Write(stream, data, d, h, w, spacingMm, storage, description);
        }
        file.Commit();
    }

    /// <summary>Writes NIfTI-1 content to <paramref name="stream"/> (see the path overload).</summary>
    public static void Write(
        Stream stream, ReadOnlySpan<float> data, int d, int h, int w, (double D, double H, double W) spacingMm,
        NiftiStorage storage = NiftiStorage.Float32, string description = "")
    {
        if (d < 1 || h < 1 || w < 1 || (long)d * h * w != data.Length)
        {
            throw new ArgumentException($"data has {data.Length} values, which is not {d}×{h}×{w}", nameof(data));
        }

        // Stored axes: i = W − 1 − w (towards R), j = H − 1 − h (towards A), k = D − 1 − d (towards S).
        int ni = w;
        int nj = h;
        int nk = d;
        double sx = spacingMm.W;
        double sy = spacingMm.H;
        double sz = spacingMm.D;
        if (ni > short.MaxValue || nj > short.MaxValue || nk > short.MaxValue)
        {
            throw new ArgumentException($"size {d}×{h}×{w} exceeds NIfTI-1's 32767 per axis", nameof(data));
        }

        int esize = storage == NiftiStorage.Int16 ? 2 : 4;
        var hdr = Header(ni, nj, nk, (short)(storage == NiftiStorage.Int16 ? 4 : 16), (short)(8 * esize),
            [1, (float)sx, (float)sy, (float)sz], description);
        var s = hdr.AsSpan();

        // Identity rotation (quatern_b = c = d = 0, qfac 1); the origin puts the volume's centre at world (0, 0, 0).
        double ox = -(ni - 1) / 2.0 * sx;
        double oy = -(nj - 1) / 2.0 * sy;
        double oz = -(nk - 1) / 2.0 * sz;
        BinaryPrimitives.WriteSingleLittleEndian(s[268..], (float)ox);
        BinaryPrimitives.WriteSingleLittleEndian(s[272..], (float)oy);
        BinaryPrimitives.WriteSingleLittleEndian(s[276..], (float)oz);
        float[] srow = [(float)sx, 0, 0, (float)ox, 0, (float)sy, 0, (float)oy, 0, 0, (float)sz, (float)oz];
        for (int i = 0; i < 12; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(280 + 4 * i)..], srow[i]);
        }

        stream.Write(hdr);

        var row = new byte[esize * ni];
        for (int k = 0; k < nk; k++)
        {
            for (int j = 0; j < nj; j++)
            {
                int src = ((nk - 1 - k) * h + (nj - 1 - j)) * w + (ni - 1);
                for (int i = 0; i < ni; i++)
                {
                    float v = data[src - i];
                    if (storage == NiftiStorage.Float32)
                    {
                        BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), v);
                    }
                    else
                    {
                        if (v != MathF.Round(v) || v < short.MinValue || v > short.MaxValue)
                        {
                            throw new ArgumentException($"value {v} cannot be stored exactly as int16", nameof(data));
                        }

                        BinaryPrimitives.WriteInt16LittleEndian(row.AsSpan(2 * i), (short)v);
                    }
                }

                stream.Write(row);
            }
        }
    }
}
