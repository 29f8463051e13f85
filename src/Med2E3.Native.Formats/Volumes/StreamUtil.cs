using System.IO.Compression;

namespace Med2E3.Native.Formats.Volumes;

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
            return new GzipSource(raw);
        }

        return raw;
    }

    /// <summary>
    /// Promised decompressed sizes above this (and above <see cref="GzipSource.UncheckedRatio"/> times the compressed
    /// file) are checked by a counting pass over the gzip data before the reader allocates for them; smaller ones are
    /// simply read, and refused if they turn out short.
    /// </summary>
    public const long CountingPassThreshold = 16L << 20;

    /// <summary>
    /// How many bytes can still be read from <paramref name="stream"/>, up to <paramref name="limit"/>: exact for a
    /// seekable file and (above <see cref="CountingPassThreshold"/>) for gzip content; <paramref name="limit"/> when
    /// the stream cannot tell without being read.
    /// </summary>
    public static long Available(Stream stream, long limit, string path = "") => stream switch
    {
        PrefixedStream p => p.Available(limit, path),
        GzipSource g => g.Available(limit, path),
        { CanSeek: true } => Math.Clamp(stream.Length - stream.Position, 0, limit),
        _ => limit,
    };

    /// <summary>
    /// Refuses the file when fewer than <paramref name="bytes"/> bytes are left to read, before anything is allocated for
    /// them; <paramref name="truncated"/> makes the problem text from the bytes that are there.
    /// </summary>
    public static void EnsureAvailable(Stream stream, long bytes, string path, Func<long, string> truncated)
    {
        long have = Available(stream, bytes, path);
        if (have < bytes)
        {
            throw new VolumeFormatException(path, truncated(have));
        }
    }

    public static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    public static string Hex(ReadOnlySpan<byte> bytes) => string.Join(' ', bytes.ToArray().Select(b => b.ToString("X2")));
}
