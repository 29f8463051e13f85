using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>Writes float32 arrays as NumPy .npy files (format 1.0, '&lt;f4', C order), as M3D stores its volumes.</summary>
public static class NpyWriter
{
    /// <summary>
    /// Writes <paramref name="data"/> with <paramref name="shape"/> (e.g. (1, D, H, W)) to <paramref name="path"/>;
    /// gzip-compressed when the name ends in ".gz".
    /// </summary>
    public static void Write(string path, ReadOnlySpan<float> data, params int[] shape)
    {
        using PendingFile file = AtomicFile.Begin(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            using var gz = new GZipStream(file.Stream, CompressionLevel.SmallestSize, leaveOpen: true);
            Write(gz, data, shape);
        }
        else
        {
            Write(file.Stream, data, shape);
        }
        file.Commit();
    }

    /// <summary>Writes .npy content to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<float> data, params int[] shape)
    {
        long count = shape.Aggregate(1L, (a, n) => a * n);
        if (shape.Length == 0 || shape.Any(n => n < 1) || count != data.Length)
        {
            throw new ArgumentException($"shape ({string.Join(", ", shape)}) does not hold {data.Length} values", nameof(shape));
        }

        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";

        // numpy pads the header with spaces and a final newline so that the data starts on a 64-byte boundary.
        int total = 10 + dict.Length + 1;
        int padded = (total + 63) / 64 * 64;
        string header = dict + new string(' ', padded - total) + "\n";
        Span<byte> pre = stackalloc byte[10];
        pre[0] = 0x93;
        "NUMPY"u8.CopyTo(pre[1..]);
        pre[6] = 1;
        pre[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(pre[8..], checked((ushort)header.Length));
        stream.Write(pre);
        stream.Write(Encoding.ASCII.GetBytes(header));

        var buf = new byte[4 * Math.Min(data.Length, 1 << 16)];
        for (int i = 0; i < data.Length; i += buf.Length / 4)
        {
            int n = Math.Min(buf.Length / 4, data.Length - i);
            for (int j = 0; j < n; j++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buf.AsSpan(4 * j), data[i + j]);
            }

            stream.Write(buf, 0, 4 * n);
        }
    }
}
