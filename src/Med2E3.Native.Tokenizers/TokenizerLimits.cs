namespace Med2E3.Native.Tokenizers;

/// <summary>The ranges the tokenizer files are checked against before they are used.</summary>
public static class TokenizerLimits
{
    /// <summary>Vocabulary ids (Phi-3 32064, BERT 30522); the same bound as the model configs' vocabulary size.</summary>
    public const int MaxVocab = 1 << 22;
}
