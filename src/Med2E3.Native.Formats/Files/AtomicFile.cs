using System.Diagnostics;

namespace Med2E3.Native.Formats.Files;

/// <summary>
/// Writes a file so that it is either the old one or the complete new one, never a part: the bytes go to a
/// temporary sibling (<c>.NAME.partial-PID-N</c>), are flushed to the disk, and the sibling is renamed over the
/// target. A failure (a full disk, a read-only folder) removes the sibling and throws
/// <see cref="OutputFileException"/> naming the target, which is left as it was.
/// </summary>
public static class AtomicFile
{
    private static int _counter;

    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> puts in the stream.</summary>
    /// <exception cref="OutputFileException">The file cannot be written; it is left as it was.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using PendingFile file = Begin(path);
        write(file.Stream);
        file.Commit();
    }

    /// <summary>
    /// Starts writing <paramref name="path"/>: write to <see cref="PendingFile.Stream"/>, then
    /// <see cref="PendingFile.Commit"/>; disposing without committing discards what was written.
    /// </summary>
    /// <exception cref="OutputFileException">The temporary file cannot be created.</exception>
    public static PendingFile Begin(string path) => new(Path.GetFullPath(path));

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write(text);
        });

    /// <summary>
    /// True for a path under <c>/dev/</c> or <c>/proc/</c> (a device or a process's file descriptor such as
    /// <c>/dev/stdout</c>): such outputs are written directly, never replaced by a rename.
    /// </summary>
    public static bool IsDevice(string path)
    {
        string full = Path.GetFullPath(path);
        return !OperatingSystem.IsWindows()
            && (full.StartsWith("/dev/", StringComparison.Ordinal) || full.StartsWith("/proc/", StringComparison.Ordinal));
    }

    /// <summary>
    /// A fresh name next to <paramref name="path"/>: <c>.NAME.KIND-PID-N</c> (NAME cut to 100 characters), which no
    /// other writer uses and which a reader looking for NAME never picks up.
    /// </summary>
    public static string TemporarySibling(string path, string kind)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(full)) ?? full;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(full));
        if (name.Length > 100)
        {
            name = name[..100];
        }
        int n = Interlocked.Increment(ref _counter);
        return Path.Combine(dir, $".{name}.{kind}-{Environment.ProcessId}-{n}");
    }

    /// <summary>
    /// Removes temporary siblings of <paramref name="path"/> of the given kind left by processes that no longer run
    /// (a kill during a save); those of running processes are kept.
    /// </summary>
    public static void RemoveStaleSiblings(string path, string kind)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string? dir = Path.GetDirectoryName(full);
        if (dir is null || !Directory.Exists(dir))
        {
            return;
        }
        string name = Path.GetFileName(full);
        string prefix = $".{(name.Length > 100 ? name[..100] : name)}.{kind}-";
        foreach (string entry in Directory.EnumerateFileSystemEntries(dir, prefix + "*"))
        {
            if (LeftByDeadProcess(entry, prefix))
            {
                TryDelete(entry);
            }
        }
    }

    /// <summary>True when <paramref name="entry"/>, named <c>PREFIX PID-N</c>, was made by a process that no longer runs.</summary>
    internal static bool LeftByDeadProcess(string entry, string prefix)
    {
        string rest = Path.GetFileName(entry)[prefix.Length..];
        int dash = rest.IndexOf('-');
        if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), out int pid) || pid == Environment.ProcessId)
        {
            return false;
        }
        try
        {
            using var p = Process.GetProcessById(pid);
            return p.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>Deletes a file or folder if it is there; failures are ignored (it is only a temporary).</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
