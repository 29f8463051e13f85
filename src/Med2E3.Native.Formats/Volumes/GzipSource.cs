using System.IO.Compression;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// The decompressed content of a gzip file, read in order, that can also say — before a reader allocates for them —
/// whether the bytes a header promises are really there. A promise above <see cref="StreamUtil.CountingPassThreshold"/>
/// that is also more than <see cref="UncheckedRatio"/> times the compressed file is checked by decompressing the
/// rest once without keeping it (a second decoder over the same seekable file), counting up to what was promised and
/// no further. Smaller promises are read directly: what they allocate is bounded by the file's own size.
/// </summary>
internal sealed class GzipSource : Stream
{
    private readonly Stream _raw;
    private readonly long _start;
    private readonly GZipStream _gzip;
    private long _delivered;

    public GzipSource(Stream raw)
    {
        _raw = raw;
        _start = raw.Position;
        _gzip = new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// Promises up to this many times the compressed size are not counted first (real volumes compress 1.5–10×; a
    /// header claiming hundreds of times its file is counted before anything is allocated for it).
    /// </summary>
    public const long UncheckedRatio = 16;

    /// <summary>Decompressed bytes that can still be read, up to <paramref name="limit"/>.</summary>
    public long Available(long limit, string path)
    {
        if (limit <= StreamUtil.CountingPassThreshold || !_raw.CanSeek
            || limit <= UncheckedRatio * Math.Max(0, _raw.Length - _start))
        {
            return limit;
        }
        long saved = _raw.Position;
        try
        {
            _raw.Position = _start;
            using var counter = new GZipStream(_raw, CompressionMode.Decompress, leaveOpen: true);
            long counted = StreamUtil.Skip(counter, _delivered + limit, path);
            return Math.Max(0, counted - _delivered);
        }
        finally
        {
            _raw.Position = saved;
        }
    }

    public override int Read(Span<byte> buffer)
    {
        int n = _gzip.Read(buffer);
        _delivered += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gzip.Dispose();
        }
        base.Dispose(disposing);
    }
}
