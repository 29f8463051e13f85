using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Med2E3.Native.Models.Files;

namespace Med2E3.Native.Models.Input;

/// <summary>Voxel storage of <see cref="NiftiWriter"/>.</summary>
public enum NiftiStorage
{
    /// <summary>datatype 16, float32.</summary>
    Float32,

    /// <summary>datatype 4, int16; every value must be a whole number in [−32768, 32767] (e.g. CT in HU).</summary>
    Int16,
}

/// <summary>
/// Writes a canonical (D, H, W) volume as a single-file NIfTI-1 image stored the way most tools write it: RAS+
/// (i → R, j → A, k → S), with matching sform and qform (code 1, scanner) so that
/// <see cref="NiftiReader"/> gives back the same array.
/// </summary>
public static class NiftiWriter
{
    /// <summary>
    /// Writes <paramref name="data"/> (D, H, W) with voxel size <paramref name="spacingMm"/> (D, H, W) to
    /// <paramref name="path"/>; gzip-compressed when the name ends in ".gz".
    /// </summary>
    public static void Write(
        string path, ReadOnlySpan<float> data, int d, int h, int w, (double D, double H, double W) spacingMm,
        NiftiStorage storage = NiftiStorage.Float32, string description = "")
    {
        using PendingFile file = AtomicFile.Begin(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            using var gz = new GZipStream(file.Stream, CompressionLevel.SmallestSize, leaveOpen: true);
            Write(gz, data, d, h, w, spacingMm, storage, description);
        }
        else
        {
            Write(file.Stream, data, d, h, w, spacingMm, storage, description);
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
        var hdr = new byte[352];
        var s = hdr.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, 348);
        short[] dim = [3, (short)ni, (short)nj, (short)nk, 1, 1, 1, 1];
        if (ni > short.MaxValue || nj > short.MaxValue || nk > short.MaxValue)
        {
            throw new ArgumentException($"size {d}×{h}×{w} exceeds NIfTI-1's 32767 per axis", nameof(data));
        }

        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(s[(40 + 2 * i)..], dim[i]);
        }

        int esize = storage == NiftiStorage.Int16 ? 2 : 4;
        BinaryPrimitives.WriteInt16LittleEndian(s[70..], (short)(storage == NiftiStorage.Int16 ? 4 : 16));
        BinaryPrimitives.WriteInt16LittleEndian(s[72..], (short)(8 * esize));
        float[] pixdim = [1f, (float)sx, (float)sy, (float)sz, 1f, 1f, 1f, 1f];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(76 + 4 * i)..], pixdim[i]);
        }

        BinaryPrimitives.WriteSingleLittleEndian(s[108..], 352f); // vox_offset
        BinaryPrimitives.WriteSingleLittleEndian(s[112..], 1f); // scl_slope
        BinaryPrimitives.WriteSingleLittleEndian(s[116..], 0f); // scl_inter
        s[123] = 2 | 8; // xyzt_units: mm, s
        Encoding.ASCII.GetBytes(description.Length > 79 ? description[..79] : description).CopyTo(s[148..]);
        BinaryPrimitives.WriteInt16LittleEndian(s[252..], 1); // qform_code: scanner
        BinaryPrimitives.WriteInt16LittleEndian(s[254..], 1); // sform_code: scanner

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

        "n+1\0"u8.CopyTo(s[344..]);
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
