namespace Med2E3.Native.Formats.Files;

/// <summary>
/// An input file — a volume, an M3D data file, a golden fixture — is missing, unreadable or malformed. The message is
/// one line, "FILE: problem", and quotes at most <see cref="InputText.MaxQuoted"/> characters of any value read from
/// the file. Problems of the checkpoint (weights, configs, tokenizer files) are <c>CheckpointFormatException</c>s.
/// </summary>
public class InputFileException : IOException
{
    /// <summary>Creates the exception; <see cref="Exception.Message"/> is "<paramref name="filePath"/>: <paramref name="problem"/>".</summary>
    public InputFileException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file (or folder, or resource name) at fault.</summary>
    public string FilePath { get; }

    /// <summary>The problem without the file name.</summary>
    public string Problem { get; }
}
