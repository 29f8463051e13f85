namespace Med2E3.Native.Tokenizers;

/// <summary>Where tokenizers' Metaspace pre-tokenizer puts the word-boundary marker "▁" in front of a text piece.</summary>
public enum PrependScheme
{
    /// <summary>Only in front of the text that starts the input (not after an added token), and only when that
    /// text does not already start with "▁" or a space.</summary>
    First,

    /// <summary>In front of every piece of text between added tokens that does not already start with "▁".</summary>
    Always,

    /// <summary>Never.</summary>
    Never,
}
