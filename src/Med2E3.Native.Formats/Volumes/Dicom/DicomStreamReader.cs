using System.Buffers.Binary;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Reads DICOM's binary primitives from a stream in the dataset's byte order, tracking the position (in the decoded
/// stream for Deflated files) and refusing to read past the end.
/// </summary>
internal sealed class DicomStreamReader(Stream stream, string path, long? length)
{
    private readonly byte[] _scratch = new byte[8];

    public string FilePath { get; } = path;

    public bool BigEndian { get; set; }

    public bool ExplicitVr { get; set; }

    /// <summary>Bytes read so far.</summary>
    public long Position { get; private set; }

    /// <summary>The bytes left, when the stream's length is known (not for Deflated data).</summary>
    public long? Remaining => length is { } n ? n - Position : null;

    /// <summary>Reads <paramref name="buffer"/>.Length bytes, or fewer at the end of the stream; returns the count.</summary>
    public int ReadAtMost(Span<byte> buffer)
    {
        int n = StreamUtil.ReadAtMost(stream, buffer, FilePath);
        Position += n;
        return n;
    }

    public void ReadExactly(Span<byte> buffer, string what)
    {
        if (ReadAtMost(buffer) < buffer.Length)
        {
            throw new VolumeFormatException(FilePath, $"truncated file: it ends inside {what}");
        }
    }

    public byte[] ReadBytes(long count, string what)
    {
        CheckAvailable(count, what);
        var b = new byte[count];
        ReadExactly(b, what);
        return b;
    }

    public ushort ReadUInt16(string what)
    {
        ReadExactly(_scratch.AsSpan(0, 2), what);
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(_scratch) : BinaryPrimitives.ReadUInt16LittleEndian(_scratch);
    }

    public uint ReadUInt32(string what)
    {
        ReadExactly(_scratch.AsSpan(0, 4), what);
        return BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_scratch) : BinaryPrimitives.ReadUInt32LittleEndian(_scratch);
    }

    /// <summary>Reads a tag; false at the clean end of the stream (no byte left).</summary>
    public bool TryReadTag(out DicomTag tag)
    {
        int n = ReadAtMost(_scratch.AsSpan(0, 4));
        if (n == 0)
        {
            tag = default;
            return false;
        }

        if (n < 4)
        {
            throw new VolumeFormatException(FilePath, "truncated file: it ends inside a tag");
        }

        var s = _scratch.AsSpan();
        tag = BigEndian
            ? new DicomTag(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]))
            : new DicomTag(BinaryPrimitives.ReadUInt16LittleEndian(s), BinaryPrimitives.ReadUInt16LittleEndian(s[2..]));
        return true;
    }

    public void Skip(long count, string what)
    {
        CheckAvailable(count, what);
        if (stream.CanSeek)
        {
            stream.Seek(count, SeekOrigin.Current);
            Position += count;
            return;
        }

        if (StreamUtil.Skip(stream, count, FilePath) < count)
        {
            throw new VolumeFormatException(FilePath, $"truncated file: it ends inside {what}");
        }

        Position += count;
    }

    /// <summary>Refuses a length that runs past the end of a stream of known length, before anything is allocated.</summary>
    public void CheckAvailable(long count, string what)
    {
        if (count < 0 || (Remaining is { } left && count > left))
        {
            throw new VolumeFormatException(FilePath,
                $"{what} claims {count} bytes but only {Remaining} are left in the file");
        }
    }
}
