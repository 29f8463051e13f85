namespace Med2E3.Native.Tokenizers;

/// <summary>
/// A token matched as a whole in the raw text before any SentencePiece processing (transformers "added token"),
/// e.g. <c>&lt;|endoftext|&gt;</c>. <see cref="Special"/> tokens are dropped by
/// <see cref="Phi3Tokenizer.Decode(IEnumerable{int}, bool)"/> with skipSpecialTokens.
/// </summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">The literal text that is matched.</param>
/// <param name="Special">Whether decoding with skipSpecialTokens removes it.</param>
/// <param name="LStrip">The match also swallows whitespace on its left.</param>
/// <param name="RStrip">The match also swallows whitespace on its right.</param>
/// <param name="SingleWord">Only matches when not glued to a word character on either side.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false,
    bool SingleWord = false);
