namespace Med2E3.Native.Formats.Files;

/// <summary>
/// A file being written through a temporary sibling (see <see cref="AtomicFile.Begin"/>): <see cref="Commit"/>
/// flushes it to the disk and renames it over the target; <see cref="Dispose"/> without a commit deletes it. Every
/// failure — creating, writing, flushing, renaming — is an <see cref="OutputFileException"/> naming the target.
/// </summary>
public sealed class PendingFile : IDisposable
{
    private readonly FileStream _file;
    private readonly bool _direct;
    private readonly string _final;
    private bool _done;

    internal PendingFile(string target)
    {
        Target = target;
        // A link is replaced through its final target; a device (/dev/stdout, /dev/null …) is written directly,
        // since renaming a file over it would replace the device itself.
        string file = new FileInfo(target).LinkTarget is null
            ? target
            : File.ResolveLinkTarget(target, returnFinalTarget: true)?.FullName ?? target;
        _direct = AtomicFile.IsDevice(file);
        TemporaryPath = _direct ? file : AtomicFile.TemporarySibling(file, "partial");
        _final = file;
        try
        {
            _file = _direct
                ? new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 16)
                : new FileStream(TemporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputFileException.From(target, e);
        }
        Stream = new GuardedStream(_file, target);
    }

    /// <summary>The file that appears when the write is committed.</summary>
    public string Target { get; }

    /// <summary>Where the bytes go until then.</summary>
    public string TemporaryPath { get; }

    /// <summary>Write here; failures are <see cref="OutputFileException"/>s naming <see cref="Target"/>.</summary>
    public Stream Stream { get; }

    /// <summary>Flushes the data to the disk and renames the temporary file over <see cref="Target"/>.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        try
        {
            if (_direct)
            {
                _file.Flush();
                _file.Dispose();
                _done = true;
                return;
            }
            _file.Flush(flushToDisk: true);
            _file.Dispose();
            File.Move(TemporaryPath, _final, overwrite: true);
            _done = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not OutputFileException)
        {
            Dispose();
            throw OutputFileException.From(Target, e);
        }
    }

    /// <summary>Discards the temporary file unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_done)
        {
            return;
        }
        _done = true;
        try
        {
            _file.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A flush that fails on a full disk; the file is deleted below anyway.
        }
        if (!_direct)
        {
            AtomicFile.TryDelete(TemporaryPath);
        }
    }

    /// <summary>Passes writes to the file and turns its I/O errors into <see cref="OutputFileException"/>s naming the target.</summary>
    private sealed class GuardedStream(FileStream inner, string target) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => true;
        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override void Write(byte[] buffer, int offset, int count) => Guard(() => inner.Write(buffer, offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try
            {
                inner.Write(buffer);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not OutputFileException)
            {
                throw OutputFileException.From(target, e);
            }
        }

        public override void WriteByte(byte value) => Guard(() => inner.WriteByte(value));

        public override void Flush() => Guard(inner.Flush);

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => Guard(() => inner.SetLength(value));

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private void Guard(Action write)
        {
            try
            {
                write();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not OutputFileException)
            {
                throw OutputFileException.From(target, e);
            }
        }
    }
}
