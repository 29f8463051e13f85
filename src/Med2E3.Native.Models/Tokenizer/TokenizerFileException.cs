namespace Med2E3.Native.Models.Tokenizer;

/// <summary>A tokenizer file is missing, malformed, or asks for a feature this implementation does not have.</summary>
/// <remarks>The message is one line: the file, then the problem.</remarks>
public sealed class TokenizerFileException : Exception
{
    public TokenizerFileException(string path, string problem)
        : base($"{path}: {problem}")
    {
        FilePath = path;
    }

    public TokenizerFileException(string path, string problem, Exception inner)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
    }

    /// <summary>The file the problem was found in.</summary>
    public string FilePath { get; }
}
