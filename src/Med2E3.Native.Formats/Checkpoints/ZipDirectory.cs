using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>One entry of a zip central directory, with the file offset of its data.</summary>
internal sealed record ZipEntryInfo(string Name, int Method, uint Crc32, long CompressedSize, long Size,
    long DataOffset);

/// <summary>
/// Reads the central directory of a zip file (zip64 included) and locates each entry's data, so stored
/// entries can be read in place. PyTorch writes its checkpoints as stored zips with 64-byte aligned data.
/// Everything is bounds-checked against the file length.
/// </summary>
internal sealed class ZipDirectory
{
    private const uint EndOfCentralDirectory = 0x06054b50;
    private const uint Zip64EndOfCentralDirectory = 0x06064b50;
    private const uint Zip64Locator = 0x07064b50;
    private const uint CentralHeader = 0x02014b50;
    private const uint LocalHeader = 0x04034b50;
    private const int MaxEntries = 1_000_000;
    private const long MaxDeflateRatio = 1032;

    private readonly Dictionary<string, ZipEntryInfo> _byName = new(StringComparer.Ordinal);

    private ZipDirectory(string path, long length, List<ZipEntryInfo> entries)
    {
        FilePath = path;
        FileLength = length;
        Entries = entries;
        foreach (ZipEntryInfo e in entries)
        {
            if (!_byName.TryAdd(e.Name, e))
            {
                throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(e.Name)} appears twice");
            }
        }
    }

    public string FilePath { get; }
    public long FileLength { get; }
    public IReadOnlyList<ZipEntryInfo> Entries { get; }

    public ZipEntryInfo? Find(string name) => _byName.GetValueOrDefault(name);

    public static ZipDirectory Read(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = RandomAccess.GetLength(handle);
        try
        {
            return new ZipDirectory(path, length, ReadEntries(path, handle, length));
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointFormatException(path, "zip file ends unexpectedly (truncated?)", e);
        }
    }

    private static List<ZipEntryInfo> ReadEntries(string path, SafeFileHandle handle, long length)
    {
        if (length < 22)
        {
            throw new CheckpointFormatException(path, $"not a zip file ({length} bytes; truncated?)");
        }
        // The end record sits in the last 22 + 65535 bytes (the comment is at most 65535 bytes).
        int tailLength = (int)Math.Min(length, 22 + 65535);
        var tail = new byte[tailLength];
        StorageViewSource.ReadExactly(handle, length - tailLength, tail);
        int eocd = -1;
        for (int i = tailLength - 22; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndOfCentralDirectory)
            {
                eocd = i;
                break;
            }
        }
        if (eocd < 0)
        {
            throw new CheckpointFormatException(path,
                "no zip end-of-central-directory record (not a PyTorch zip checkpoint, or truncated)");
        }
        long eocdOffset = length - tailLength + eocd;
        ReadOnlySpan<byte> e = tail.AsSpan(eocd);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            if (eocdOffset < 20)
            {
                throw new CheckpointFormatException(path, "zip64 locator missing");
            }
            var locator = new byte[20];
            StorageViewSource.ReadExactly(handle, eocdOffset - 20, locator);
            if (BinaryPrimitives.ReadUInt32LittleEndian(locator) != Zip64Locator)
            {
                throw new CheckpointFormatException(path, "zip64 locator missing");
            }
            long z64 = BinaryPrimitives.ReadInt64LittleEndian(locator.AsSpan(8));
            if (z64 < 0 || z64 + 56 > length)
            {
                throw new CheckpointFormatException(path, "zip64 end record offset out of range");
            }
            var rec = new byte[56];
            StorageViewSource.ReadExactly(handle, z64, rec);
            if (BinaryPrimitives.ReadUInt32LittleEndian(rec) != Zip64EndOfCentralDirectory)
            {
                throw new CheckpointFormatException(path, "zip64 end record signature wrong");
            }
            count = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(32));
            cdSize = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(40));
            cdOffset = BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(48));
        }
        if (count < 0 || count > MaxEntries || cdSize < 0 || cdOffset < 0 || cdOffset + cdSize > length ||
            cdSize > int.MaxValue)
        {
            throw new CheckpointFormatException(path,
                $"zip central directory out of range (offset {cdOffset}, size {cdSize}, {count} entries, " +
                $"file {length} bytes; truncated?)");
        }
        var cd = new byte[cdSize];
        StorageViewSource.ReadExactly(handle, cdOffset, cd);
        var entries = new List<ZipEntryInfo>((int)count);
        int p = 0;
        var local = new byte[30];
        for (long n = 0; n < count; n++)
        {
            if (p + 46 > cd.Length || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(p)) != CentralHeader)
            {
                throw new CheckpointFormatException(path, $"zip central directory entry {n} is corrupt");
            }
            ReadOnlySpan<byte> h = cd.AsSpan(p);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long lho = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            if (p + 46 + nameLen + extraLen + commentLen > cd.Length)
            {
                throw new CheckpointFormatException(path, $"zip central directory entry {n} is corrupt");
            }
            string name = Encoding.UTF8.GetString(h.Slice(46, nameLen));
            ReadOnlySpan<byte> extra = h.Slice(46 + nameLen, extraLen);
            ReadZip64Extra(path, name, extra, ref usize, ref csize, ref lho);
            p += 46 + nameLen + extraLen + commentLen;
            if ((flags & 1) != 0)
            {
                throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(name)} is encrypted");
            }
            if (method != 0 && method != 8)
            {
                throw new CheckpointFormatException(path,
                    $"zip entry {InputText.Quote(name)} uses compression method {method} (only stored and deflate are read)");
            }
            if (method == 0 && csize != usize)
            {
                throw new CheckpointFormatException(path,
                    $"zip entry {InputText.Quote(name)} is stored but its sizes differ ({csize} vs {usize})");
            }
            // Deflate expands at most ~1032:1, so a larger claim cannot be true; refusing it here keeps a reader from
            // allocating the claimed size for a few compressed bytes.
            if (method == 8 && usize > (csize + 8) * MaxDeflateRatio)
            {
                throw new CheckpointFormatException(path,
                    $"zip entry {InputText.Quote(name)} claims {usize} bytes from {csize} compressed bytes, more than " +
                    "deflate can produce");
            }
            if (lho < 0 || lho + 30 > cdOffset)
            {
                throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(name)} header offset out of range");
            }
            StorageViewSource.ReadExactly(handle, lho, local);
            if (BinaryPrimitives.ReadUInt32LittleEndian(local) != LocalHeader)
            {
                throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(name)} local header is corrupt");
            }
            long dataOffset = lho + 30 + BinaryPrimitives.ReadUInt16LittleEndian(local.AsSpan(26)) +
                              BinaryPrimitives.ReadUInt16LittleEndian(local.AsSpan(28));
            if (csize < 0 || usize < 0 || dataOffset + csize > cdOffset)
            {
                throw new CheckpointFormatException(path,
                    $"zip entry {InputText.Quote(name)} data ({csize} bytes at {dataOffset}) runs past the end of the entries " +
                    "(truncated?)");
            }
            entries.Add(new ZipEntryInfo(name, method, crc, csize, usize, dataOffset));
        }
        return entries;
    }

    private static void ReadZip64Extra(string path, string name, ReadOnlySpan<byte> extra, ref long usize,
        ref long csize, ref long lho)
    {
        int q = 0;
        while (q + 4 <= extra.Length)
        {
            int id = BinaryPrimitives.ReadUInt16LittleEndian(extra[q..]);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(extra[(q + 2)..]);
            if (q + 4 + size > extra.Length)
            {
                throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(name)} has a corrupt extra field");
            }
            if (id == 1)
            {
                ReadOnlySpan<byte> z = extra.Slice(q + 4, size);
                int r = 0;
                // Only the fields that overflowed in the fixed header are present, in this order.
                if (usize == 0xFFFFFFFF)
                {
                    usize = ReadZ64(z, ref r, path, name);
                }
                if (csize == 0xFFFFFFFF)
                {
                    csize = ReadZ64(z, ref r, path, name);
                }
                if (lho == 0xFFFFFFFF)
                {
                    lho = ReadZ64(z, ref r, path, name);
                }
            }
            q += 4 + size;
        }
    }

    private static long ReadZ64(ReadOnlySpan<byte> z, ref int r, string path, string name)
    {
        if (r + 8 > z.Length)
        {
            throw new CheckpointFormatException(path, $"zip entry {InputText.Quote(name)} has a short zip64 extra field");
        }
        long v = BinaryPrimitives.ReadInt64LittleEndian(z[r..]);
        r += 8;
        return v;
    }

    /// <summary>Reads a whole (small) entry into memory, inflating it if needed, and checks its CRC-32.</summary>
    public byte[] ReadAll(ZipEntryInfo entry, long maxBytes)
    {
        if (entry.Size > maxBytes)
        {
            throw new CheckpointFormatException(FilePath,
                $"zip entry {InputText.Quote(entry.Name)} is {entry.Size} bytes, more than the {maxBytes} allowed");
        }
        var data = new byte[entry.Size];
        using SafeFileHandle handle = File.OpenHandle(FilePath, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            if (entry.Method == 0)
            {
                StorageViewSource.ReadExactly(handle, entry.DataOffset, data);
            }
            else
            {
                var packed = new byte[entry.CompressedSize];
                StorageViewSource.ReadExactly(handle, entry.DataOffset, packed);
                using var inflate = new DeflateStream(new MemoryStream(packed), CompressionMode.Decompress);
                inflate.ReadExactly(data);
            }
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new CheckpointFormatException(FilePath, $"zip entry {InputText.Quote(entry.Name)} is corrupt or truncated", e);
        }
        if (Crc32.Compute(data) != entry.Crc32)
        {
            throw new CheckpointFormatException(FilePath, $"zip entry {InputText.Quote(entry.Name)} fails its CRC-32 check");
        }
        return data;
    }
}

/// <summary>CRC-32 (IEEE 802.3, the zip checksum).</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            t[i] = c;
        }
        return t;
    }

    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return ~crc;
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);
}
