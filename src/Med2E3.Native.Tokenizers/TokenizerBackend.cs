namespace Med2E3.Native.Tokenizers;

/// <summary>
/// Which transformers implementation of the Llama tokenizer the ids must match (transformers' <c>backend</c> key of
/// tokenizer_config.json names the same two).
/// </summary>
public enum TokenizerBackend
{
    /// <summary>
    /// The slow <c>LlamaTokenizer</c>: transformers' Python code around SentencePiece, driven by
    /// tokenizer_config.json (<c>legacy</c>, <c>add_prefix_space</c>, …); tokenizer.json is not read. The reference
    /// loads this one (<c>tokenizer_use_fast: false</c>).
    /// </summary>
    SentencePiece,

    /// <summary>
    /// <c>LlamaTokenizerFast</c> (and transformers 5's <c>LlamaTokenizer</c>): Hugging Face tokenizers, driven by
    /// tokenizer.json (normalizer, Metaspace pre-tokenizer, added tokens).
    /// </summary>
    Tokenizers,
}
