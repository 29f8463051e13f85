using System.IO.MemoryMappedFiles;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// A byte range of a weight file handed out as a read-only span over a memory mapping, without a copy. The file's
/// length is checked right before the range is mapped, so a file truncated since it was opened is refused with a
/// <see cref="CheckpointFormatException"/> instead of a fault on a page past the end. A file shrunk while a range of
/// it is in use (inside <see cref="Use"/>) is not supported: the process would receive SIGBUS. The mapping lives for
/// the call only, so nothing stays mapped after load.
/// </summary>
internal static unsafe class MappedRange
{
    /// <summary>Largest range mapped in one view (one span).</summary>
    public const long MaxViewBytes = int.MaxValue;

    /// <summary>Calls <paramref name="use"/> with bytes [offset, offset + length) of <paramref name="path"/>.</summary>
    public static T Use<T>(string path, long offset, long length, Func<ReadOnlySpan<byte>, T> use)
    {
        if (length < 0 || length > MaxViewBytes || offset < 0)
        {
            throw new CheckpointFormatException(path, $"cannot map {length} bytes at {offset}");
        }
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            long fileLength = file.Length;
            if (offset + length > fileLength)
            {
                throw new CheckpointFormatException(path,
                    $"tensor data ({length} bytes at {offset}) runs past the end of the file ({fileLength} bytes; " +
                    "truncated or changed since it was opened?)");
            }
            if (length == 0)
            {
                return use(default);
            }
            using var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: true);
            using var view = map.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            try
            {
                return use(new ReadOnlySpan<byte>(p + view.PointerOffset, (int)length));
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
        catch (IOException e) when (e is not CheckpointFormatException)
        {
            throw new CheckpointFormatException(path, "cannot map tensor data: " + e.Message, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CheckpointFormatException(path, "cannot map tensor data: " + e.Message, e);
        }
    }
}
