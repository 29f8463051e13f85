using System.IO.Compression;
using Med2E3.Native.Formats.Files;
using Microsoft.Win32.SafeHandles;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// The CRC-32 check of one zip entry that holds tensor data, done once per opened file, on the first read of any
/// tensor viewing the entry: the whole entry (stored or inflated) is hashed with the vectorised
/// <see cref="System.IO.Hashing.Crc32"/> and compared with the CRC-32 of the central directory. A mismatch throws
/// <see cref="CheckpointFormatException"/> naming the file, the entry and both checksums; the failure is remembered.
/// </summary>
internal sealed class ZipEntryCheck(string filePath, ZipEntryInfo entry)
{
    private const int ChunkBytes = 4 << 20;
    private readonly object _gate = new();
    private Exception? _failure;
    private bool _done;

    /// <summary>The entry checked.</summary>
    public ZipEntryInfo Entry => entry;

    /// <summary>Checks the entry the first time; later calls return at once (or rethrow the first failure).</summary>
    public void Ensure()
    {
        if (Volatile.Read(ref _done)) return;
        lock (_gate)
        {
            if (_failure is not null) throw _failure;
            if (_done) return;
            try
            {
                uint crc = Compute(filePath, entry);
                if (crc != entry.Crc32)
                {
                    throw new CheckpointFormatException(filePath,
                        $"zip entry {InputText.Quote(entry.Name)} fails its CRC-32 check: the central directory says " +
                        $"0x{entry.Crc32:x8}, the data hashes to 0x{crc:x8}");
                }
            }
            catch (CheckpointFormatException e)
            {
                _failure = e;
                throw;
            }
            Volatile.Write(ref _done, true);
        }
    }

    /// <summary>CRC-32 of the entry's uncompressed bytes.</summary>
    public static uint Compute(string filePath, ZipEntryInfo entry)
    {
        var crc = new System.IO.Hashing.Crc32();
        var buffer = new byte[(int)Math.Min(ChunkBytes, Math.Max(entry.Method == 0 ? entry.Size : entry.CompressedSize, 1))];
        try
        {
            if (entry.Method == 0)
            {
                using SafeFileHandle handle = File.OpenHandle(filePath, FileMode.Open, FileAccess.Read, FileShare.Read);
                for (long done = 0; done < entry.Size;)
                {
                    int n = (int)Math.Min(buffer.Length, entry.Size - done);
                    StorageViewSource.ReadExactly(handle, entry.DataOffset + done, buffer.AsSpan(0, n));
                    crc.Append(buffer.AsSpan(0, n));
                    done += n;
                }
            }
            else
            {
                using var file = new FileStream(filePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                file.Position = entry.DataOffset;
                using var inflate = new DeflateStream(new SubStream(file, entry.CompressedSize), CompressionMode.Decompress);
                for (long done = 0; done < entry.Size;)
                {
                    int n = inflate.Read(buffer, 0, (int)Math.Min(buffer.Length, entry.Size - done));
                    if (n <= 0) throw new EndOfStreamException();
                    crc.Append(buffer.AsSpan(0, n));
                    done += n;
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointFormatException(filePath,
                $"zip entry {InputText.Quote(entry.Name)}: file ends inside its data (truncated?)", e);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(filePath,
                $"zip entry {InputText.Quote(entry.Name)}: compressed data is corrupt: {e.Message}", e);
        }
        catch (IOException e) when (e is not CheckpointFormatException)
        {
            throw new CheckpointFormatException(filePath, $"cannot read zip entry {InputText.Quote(entry.Name)}: {e.Message}", e);
        }
        return crc.GetCurrentHashAsUInt32();
    }
}
