namespace Med2E3.Native.Formats.Files;

/// <summary>
/// An output (a checkpoint folder, a PNG, a results file, stdout) could not be written: the disk is full, the folder
/// is not writable, the stream was closed. The message is one line naming the output, and the output is left as it
/// was before the write began (outputs are written to a temporary sibling, then renamed).
/// </summary>
public sealed class OutputFileException : IOException
{
    /// <summary>Creates the exception; <see cref="Exception.Message"/> is "<paramref name="filePath"/>: <paramref name="problem"/>".</summary>
    public OutputFileException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The output at fault (a path, or "stdout").</summary>
    public string FilePath { get; }

    /// <summary>The problem without the output's name.</summary>
    public string Problem { get; }

    /// <summary>"cannot write: " + the operating system's reason, on one line (without the path .NET appends to it).</summary>
    public static OutputFileException From(string filePath, Exception e)
    {
        string reason = InputText.OneLine(e.Message);
        int path = reason.LastIndexOf(" : '", StringComparison.Ordinal);
        if (path > 0 && reason.EndsWith('\''))
        {
            reason = reason[..path];
        }
        return new OutputFileException(filePath, "cannot write: " + reason, e);
    }
}
