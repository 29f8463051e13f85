using System.Text.Json;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Cli.Output;

/// <summary>
/// A JSON Lines file written while a command runs: one compact JSON object per line, each line written and handed to
/// the operating system as soon as it is appended, so a crash or a kill keeps every line appended before it. A
/// failure (a full disk) is an <see cref="OutputFileException"/> naming the file.
/// </summary>
public sealed class JsonLinesFile : IDisposable
{
    static readonly JsonSerializerOptions Compact = new(Json.Options) { WriteIndented = false };

    readonly FileStream file;

    JsonLinesFile(string path, FileStream file)
    {
        Path = path;
        this.file = file;
    }

    /// <summary>The file written.</summary>
    public string Path { get; }

    /// <summary>Creates the file; an existing one is replaced only with <paramref name="overwrite"/>.</summary>
    public static JsonLinesFile Create(string path, bool overwrite)
    {
        try
        {
            FileMode mode = AtomicFile.IsDevice(path) ? FileMode.Open : overwrite ? FileMode.Create : FileMode.CreateNew;
            var stream = new FileStream(path, mode, FileAccess.Write, FileShare.ReadWrite, 1 << 16);
            return new JsonLinesFile(path, stream);
        }
        catch (IOException e) when (File.Exists(path) && !overwrite)
        {
            throw new OutputFileException(path, "already exists; add --overwrite to replace it", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputFileException.From(path, e);
        }
    }

    /// <summary>Writes <paramref name="value"/> as one line and flushes it to the operating system.</summary>
    public void Append<T>(T value)
    {
        byte[] line = [.. JsonSerializer.SerializeToUtf8Bytes(value, Compact), (byte)'\n'];
        try
        {
            file.Write(line);
            file.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputFileException.From(Path, e);
        }
    }

    /// <summary>Flushes everything to the disk and closes the file.</summary>
    public void Complete()
    {
        try
        {
            file.Flush(flushToDisk: !AtomicFile.IsDevice(Path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputFileException.From(Path, e);
        }
    }

    public void Dispose()
    {
        try
        {
            file.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Everything appended was flushed already; a failure here has been reported by Append or Complete.
        }
    }
}
