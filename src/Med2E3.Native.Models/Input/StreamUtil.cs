using System.IO.Compression;

namespace Med2E3.Native.Models.Input;

internal static class StreamUtil
{
    /// <summary>Fills <paramref name="buffer"/> as far as the stream allows; returns the bytes read.</summary>
    public static int ReadAtMost(Stream stream, Span<byte> buffer, string path)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = stream.Read(buffer[total..]);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new VolumeFormatException(path, $"corrupt gzip data: {OneLine(e.Message)}", e);
        }

        return total;
    }

    /// <summary>Skips <paramref name="count"/> bytes; returns the bytes actually skipped.</summary>
    public static long Skip(Stream stream, long count, string path)
    {
        Span<byte> scratch = stackalloc byte[4096];
        long done = 0;
        while (done < count)
        {
            int n = ReadAtMost(stream, scratch[..(int)Math.Min(scratch.Length, count - done)], path);
            if (n == 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }

    /// <summary>
    /// Returns a stream of the decoded file contents: <paramref name="raw"/> itself, or a gzip decoder over it when the
    /// content starts with the gzip magic 1F 8B (the file name is not consulted). <paramref name="raw"/> must be seekable.
    /// </summary>
    public static Stream Decode(Stream raw, string path)
    {
        Span<byte> magic = stackalloc byte[2];
        long start = raw.Position;
        int n = ReadAtMost(raw, magic, path);
        raw.Position = start;
        if (n == 2 && magic[0] == 0x1F && magic[1] == 0x8B)
        {
            return new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true);
        }

        return raw;
    }

    public static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    public static string Hex(ReadOnlySpan<byte> bytes) => string.Join(' ', bytes.ToArray().Select(b => b.ToString("X2")));
}
