using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>Where a tensor's bytes come from. Reading is deferred until the data is asked for.</summary>
internal abstract class TensorSource
{
    protected TensorSource(string filePath) => FilePath = filePath;

    public string FilePath { get; }

    /// <summary>Fills <paramref name="destination"/> with the tensor's contiguous row-major bytes.</summary>
    public abstract void Read(Span<byte> destination);
}

/// <summary>Bytes held in memory already.</summary>
internal sealed class MemorySource(string filePath, ReadOnlyMemory<byte> data) : TensorSource(filePath)
{
    public ReadOnlyMemory<byte> Data { get; } = data;

    public override void Read(Span<byte> destination) => Data.Span.CopyTo(destination);
}

/// <summary>
/// A strided view into a storage of raw bytes. The storage is a byte range of a file (a stored zip entry or the data
/// section of a safetensors file), or a compressed zip entry that has to be inflated first.
/// </summary>
internal sealed class StorageViewSource : TensorSource
{
    private readonly long _storageFileOffset;   // -1 when the storage is a deflated zip entry
    private readonly long _storageBytes;
    private readonly long _deflatedOffset;
    private readonly long _deflatedLength;
    private readonly int _elementSize;
    private readonly long _elementOffset;
    private readonly long[] _shape;
    private readonly long[] _strides;
    private readonly ZipEntryCheck? _check;   // the zip entry's CRC-32, checked before the first read

    private StorageViewSource(string filePath, long storageFileOffset, long storageBytes, long deflatedOffset,
        long deflatedLength, int elementSize, long elementOffset, long[] shape, long[] strides,
        ZipEntryCheck? check = null) : base(filePath)
    {
        _check = check;
        _storageFileOffset = storageFileOffset;
        _storageBytes = storageBytes;
        _deflatedOffset = deflatedOffset;
        _deflatedLength = deflatedLength;
        _elementSize = elementSize;
        _elementOffset = elementOffset;
        _shape = shape;
        _strides = strides;
    }

    /// <summary>A contiguous tensor at a byte offset of a file.</summary>
    public static StorageViewSource Contiguous(string filePath, long fileOffset, long byteLength, int elementSize,
        long[] shape) =>
        new(filePath, fileOffset, byteLength, 0, 0, elementSize, 0, shape, ContiguousStrides(shape));

    /// <summary>A strided view into a stored (uncompressed) byte range of a file.</summary>
    public static StorageViewSource Strided(string filePath, long storageFileOffset, long storageBytes,
        int elementSize, long elementOffset, long[] shape, long[] strides, ZipEntryCheck? check = null) =>
        new(filePath, storageFileOffset, storageBytes, 0, 0, elementSize, elementOffset, shape, strides, check);

    /// <summary>A strided view into a deflate-compressed zip entry.</summary>
    public static StorageViewSource Deflated(string filePath, long compressedOffset, long compressedLength,
        long storageBytes, int elementSize, long elementOffset, long[] shape, long[] strides,
        ZipEntryCheck? check = null) =>
        new(filePath, -1, storageBytes, compressedOffset, compressedLength, elementSize, elementOffset, shape,
            strides, check);

    /// <summary>
    /// When the view is contiguous in a stored byte range, calls <paramref name="use"/> with its bytes over a
    /// memory mapping (after the entry's CRC-32 check) and returns true; otherwise false (deflated or strided).
    /// </summary>
    public bool TryUseMapped<T>(Func<ReadOnlySpan<byte>, T> use, long byteLength, out T result)
    {
        result = default!;
        if (_storageFileOffset < 0 || !IsContiguous())
        {
            return false;
        }
        long firstByte = _elementOffset * _elementSize;
        if (firstByte + byteLength > _storageBytes)
        {
            throw new CheckpointFormatException(FilePath, "tensor view reaches past the end of its storage");
        }
        _check?.Ensure();
        result = MappedRange.Use(FilePath, _storageFileOffset + firstByte, byteLength, use);
        return true;
    }

    public static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    private bool IsContiguous()
    {
        long expected = 1;
        for (int i = _shape.Length - 1; i >= 0; i--)
        {
            if (_shape[i] != 1 && _strides[i] != expected)
            {
                return false;
            }
            expected *= _shape[i];
        }
        return true;
    }

    public override void Read(Span<byte> destination)
    {
        if (destination.Length == 0)
        {
            return;
        }
        _check?.Ensure();
        // The storage span the view touches: from the first element to one past the furthest element.
        long last = _elementOffset;
        for (int i = 0; i < _shape.Length; i++)
        {
            last += (_shape[i] - 1) * _strides[i];
        }
        long firstByte = _elementOffset * _elementSize;
        long spanBytes = (last + 1) * _elementSize - firstByte;
        if (IsContiguous())
        {
            ReadStorage(firstByte, destination);
            return;
        }
        var region = new byte[checked((int)spanBytes)];
        ReadStorage(firstByte, region);
        Gather(region, destination);
    }

    private void Gather(ReadOnlySpan<byte> region, Span<byte> destination)
    {
        int rank = _shape.Length;
        var index = new long[rank];
        long count = destination.Length / _elementSize;
        for (long n = 0; n < count; n++)
        {
            long src = 0;
            for (int i = 0; i < rank; i++)
            {
                src += index[i] * _strides[i];
            }
            region.Slice((int)(src * _elementSize), _elementSize)
                .CopyTo(destination.Slice((int)(n * _elementSize), _elementSize));
            for (int i = rank - 1; i >= 0; i--)
            {
                if (++index[i] < _shape[i])
                {
                    break;
                }
                index[i] = 0;
            }
        }
    }

    private void ReadStorage(long storageByteOffset, Span<byte> destination)
    {
        if (storageByteOffset + destination.Length > _storageBytes)
        {
            throw new CheckpointFormatException(FilePath, "tensor view reaches past the end of its storage");
        }
        try
        {
            if (_storageFileOffset >= 0)
            {
                using SafeFileHandle handle = File.OpenHandle(FilePath, FileMode.Open, FileAccess.Read,
                    FileShare.Read);
                ReadExactly(handle, _storageFileOffset + storageByteOffset, destination);
                return;
            }
            using var file = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            file.Position = _deflatedOffset;
            using var limited = new SubStream(file, _deflatedLength);
            using var inflate = new DeflateStream(limited, CompressionMode.Decompress);
            SkipExactly(inflate, storageByteOffset);
            inflate.ReadExactly(destination);
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointFormatException(FilePath, "file ends inside a tensor's data (truncated?)", e);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(FilePath, "compressed tensor data is corrupt: " + e.Message, e);
        }
        catch (IOException e) when (e is not CheckpointFormatException)
        {
            // The file was opened fine earlier; it has since been moved, deleted or become unreadable.
            throw new CheckpointFormatException(FilePath, "cannot read tensor data: " + e.Message, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CheckpointFormatException(FilePath, "cannot read tensor data: " + e.Message, e);
        }
    }

    internal static void ReadExactly(SafeFileHandle handle, long offset, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(handle, destination, offset);
            if (n <= 0)
            {
                throw new EndOfStreamException();
            }
            offset += n;
            destination = destination[n..];
        }
    }

    private static void SkipExactly(Stream stream, long count)
    {
        var buffer = new byte[81920];
        while (count > 0)
        {
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (n <= 0)
            {
                throw new EndOfStreamException();
            }
            count -= n;
        }
    }
}

/// <summary>A read-only window of a stream, used to feed a zip entry's compressed bytes to a decompressor.</summary>
internal sealed class SubStream(Stream inner, long length) : Stream
{
    private long _remaining = length;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_remaining <= 0)
        {
            return 0;
        }
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
        _remaining -= n;
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
