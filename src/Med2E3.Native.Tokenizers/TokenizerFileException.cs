using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tokenizers;

/// <summary>
/// A tokenizer file (of the checkpoint, or the BERT vocabulary) is missing, malformed, or asks for a feature this
/// implementation does not have. It is a checkpoint problem: the tokenizer files belong to the checkpoint.
/// </summary>
/// <remarks>The message is one line: the file, then the problem.</remarks>
public sealed class TokenizerFileException : CheckpointFormatException
{
    public TokenizerFileException(string path, string problem)
        : base(path, problem)
    {
    }

    public TokenizerFileException(string path, string problem, Exception inner)
        : base(path, problem, inner)
    {
    }
}
