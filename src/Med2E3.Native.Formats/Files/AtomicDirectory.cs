namespace Med2E3.Native.Formats.Files;

/// <summary>
/// Writes a folder (a checkpoint) so that readers only ever see the old folder or the complete new one: everything
/// is written into a temporary sibling (<c>.NAME.partial-PID-N</c>), every file in it is flushed to the disk, and the
/// sibling is renamed into place. An existing folder is replaced only when asked, and then whole: it is renamed
/// aside (<c>.NAME.old-PID-N</c>), the new one renamed in, the old one deleted. A process killed between those two
/// renames leaves the old folder aside; the next <see cref="Write"/> to the same place puts it back first.
/// </summary>
public static class AtomicDirectory
{
    /// <summary>Writes the folder <paramref name="path"/> with what <paramref name="write"/> puts in the folder it is given.</summary>
    /// <param name="path">The folder to create or replace; its parent folders are created.</param>
    /// <param name="overwrite">Replace an existing folder (otherwise an existing one is refused).</param>
    /// <param name="write">Fills the (empty) temporary folder it receives.</param>
    /// <exception cref="OutputFileException">The folder exists and <paramref name="overwrite"/> is false, or it cannot be written; it is left as it was.</exception>
    public static void Write(string path, bool overwrite, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        try
        {
            Recover(path);
            if (File.Exists(path))
            {
                throw new OutputFileException(path, "exists and is a file, not a folder");
            }
            if (Directory.Exists(path) && !overwrite)
            {
                throw new OutputFileException(path, "already exists (it is only replaced when overwriting is asked for)");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not OutputFileException)
        {
            throw OutputFileException.From(path, e);
        }

        string temp = AtomicFile.TemporarySibling(path, "partial");
        try
        {
            Directory.CreateDirectory(temp);
            write(temp);
            FlushTree(temp);
            if (Directory.Exists(path))
            {
                string old = AtomicFile.TemporarySibling(path, "old");
                Directory.Move(path, old);
                try
                {
                    Directory.Move(temp, path);
                }
                catch
                {
                    Directory.Move(old, path);
                    throw;
                }
                AtomicFile.TryDelete(old);
            }
            else
            {
                Directory.Move(temp, path);
            }
        }
        catch (Exception e)
        {
            AtomicFile.TryDelete(temp);
            Exception? mapped = e switch
            {
                OutputFileException o => new OutputFileException(path,
                    $"cannot write {Inside(temp, o.FilePath)}: {o.Problem.Replace("cannot write: ", "")}; the folder is unchanged", o),
                IOException or UnauthorizedAccessException when e is not (InputFileException or Checkpoints.CheckpointFormatException) =>
                    new OutputFileException(path, $"cannot write: {InputText.OneLine(e.Message)}; the folder is unchanged", e),
                _ => null,
            };
            if (mapped is null)
            {
                throw;
            }
            throw mapped;
        }
    }

    /// <summary>
    /// Cleans up after a process killed during a save: a folder left aside by a replacement that did not finish is
    /// put back when <paramref name="path"/> is missing (else deleted), and temporary folders of dead processes are
    /// removed.
    /// </summary>
    private static void Recover(string path)
    {
        string? parent = Path.GetDirectoryName(path);
        if (parent is null || !Directory.Exists(parent))
        {
            return;
        }
        string name = Path.GetFileName(path);
        string oldPrefix = $".{(name.Length > 100 ? name[..100] : name)}.old-";
        foreach (string old in Directory.EnumerateDirectories(parent, oldPrefix + "*"))
        {
            if (!Directory.Exists(path) && AtomicFile.LeftByDeadProcess(old, oldPrefix))
            {
                Directory.Move(old, path);
            }
        }
        AtomicFile.RemoveStaleSiblings(path, "old");
        AtomicFile.RemoveStaleSiblings(path, "partial");
    }

    /// <summary>Flushes every file under <paramref name="folder"/> to the disk, so the rename publishes complete data.</summary>
    private static void FlushTree(string folder)
    {
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            stream.Flush(flushToDisk: true);
        }
    }

    private static string Inside(string temp, string file)
    {
        string relative = Path.GetRelativePath(temp, file);
        return relative.StartsWith("..", StringComparison.Ordinal) ? file : relative;
    }
}
