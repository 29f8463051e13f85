using System.Globalization;
using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Tokenizers;

/// <summary>
/// The Phi-3 (Llama) tokenizer: SentencePiece BPE with byte fallback, plus the added tokens of the checkpoint
/// (<c>&lt;|endoftext|&gt;</c> …), giving the ids of the transformers tokenizer the checkpoint was used with.
/// </summary>
/// <remarks>
/// <para>The merge step is <see cref="SentencePieceBpe"/>, SentencePiece's own algorithm and tie rule (leftmost of
/// equal-score merges first). Around it, <see cref="Backend"/> picks one of transformers' two Llama tokenizers:</para>
/// <para><see cref="TokenizerBackend.SentencePiece"/>, the slow <c>LlamaTokenizer</c> the reference loads
/// (<c>use_fast=False</c>), with tokenizer_config.json's flags as transformers 4.x applies them:
/// <list type="bullet">
/// <item><c>legacy</c> true (also when absent or null): every text piece between added tokens is encoded by
///   SentencePiece as it is, with the model's dummy prefix, so each gets its own "▁" (<c>PreTrainedTokenizer.tokenize</c>
///   → <c>sp_model.encode</c>).</item>
/// <item><c>legacy</c> false: SentencePiece runs without its dummy prefix; "▁" in the text becomes ' ', and with
///   <c>add_prefix_space</c> one "▁" is put in front of the whole input (so " x" gives "▁▁x"); a piece that starts
///   with "▁" or ' ' is encoded behind <c>unk_token</c> and that token's pieces dropped (<c>LlamaTokenizer._tokenize</c>);
///   a lone leading "▁" before a token of <c>all_special_tokens</c> (bos, eos, unk, pad, additional_special_tokens)
///   is dropped (<c>LlamaTokenizer.tokenize</c>).</item>
/// <item><c>add_prefix_space</c> absent is true; null is Python's None, i.e. false (no prefix).</item>
/// <item><c>add_bos_token</c> / <c>add_eos_token</c> (default true / false): BOS / EOS around the ids, also for the
///   empty string (<c>build_inputs_with_special_tokens</c>).</item>
/// <item>added tokens (<c>added_tokens_decoder</c>, else added_tokens.json, plus bos/eos/unk/pad and
///   additional_special_tokens) are cut out first, leftmost and longest; <c>rstrip</c> / <c>lstrip</c> strip the
///   neighbouring text with Python's <c>str.lstrip</c> / <c>rstrip</c>, <c>single_word</c> glues the token to a
///   neighbour not separated by ' ', which is then encoded as text; <c>split_special_tokens</c> true cuts nothing
///   out (<c>PreTrainedTokenizer.tokenize</c>).</item>
/// </list></para>
/// <para><see cref="TokenizerBackend.Tokenizers"/>, Hugging Face tokenizers (<c>LlamaTokenizerFast</c>, transformers
/// 5): tokenizer.json's added tokens, its <c>Prepend("▁")</c> normalizer (every piece gets "▁") or its Metaspace
/// pre-tokenizer (<see cref="Prepend"/>, <c>split</c>); BOS / EOS per add_bos_token / add_eos_token.</para>
/// <para>Decoding (both backends) is tokenizers' Llama decoder: pieces with "▁" → ' ', runs of byte pieces as
/// UTF-8 (each byte of an invalid run becomes U+FFFD), then one leading space removed where encoding put a "▁" in
/// front; <c>clean_up_tokenization_spaces</c> true then removes the spaces before punctuation and contractions.</para>
/// </remarks>
public sealed class Phi3Tokenizer
{
    /// <summary>Sentinel id that stands for the 3D image in a prompt (spec §7.3).</summary>
    public const int Image3DTokenId = -201;

    /// <summary>Sentinel id that stands for a 2D image in a prompt (spec §7.3).</summary>
    public const int ImageTokenId = -200;

    public const string Image3DPlaceholder = "<image3d>";

    public const string ImagePlaceholder = "<image>";

    private const char Meta = '\u2581';

    private readonly SentencePieceModel _model;
    private readonly SentencePieceBpe _bpe;
    private readonly Phi3TokenizerConfig _config;
    private readonly Dictionary<string, int> _pieceIds;
    private readonly AddedToken[] _splitLongestFirst;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Dictionary<int, int> _pieceToAdded = [];
    private readonly int _metaPieceId;
    private readonly int _unkPrefixLength;
    private readonly int _promptBosOffset;

    private Phi3Tokenizer(SentencePieceModel model, Phi3TokenizerConfig config)
    {
        _model = model;
        _bpe = new SentencePieceBpe(model);
        _config = config;
        _pieceIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            _pieceIds.TryAdd(model.Pieces[i].Piece, i);
        }

        _addedById = [];
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var t in config.Added)
        {
            if (t.Content.Length == 0)
            {
                throw new TokenizerFileException(config.ConfigPath, $"added token {t.Id} has empty content");
            }

            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t;
        }

        // The slow tokenizer adds bos/eos/unk/pad and additional_special_tokens to its added tokens; the fast one
        // also treats the SentencePiece control and unknown pieces as special tokens.
        foreach (string content in config.AllSpecialTokens.Order(StringComparer.Ordinal))
        {
            if (!_addedByContent.ContainsKey(content) && _pieceIds.TryGetValue(content, out int id)
                && !_addedById.ContainsKey(id))
            {
                AddSpecial(id, content);
            }
        }

        if (config.Backend == TokenizerBackend.Tokenizers)
        {
            for (int i = 0; i < model.Pieces.Count; i++)
            {
                var p = model.Pieces[i];
                if (p.Type is (SentencePieceType.Control or SentencePieceType.Unknown) && !_addedById.ContainsKey(i)
                    && !_addedByContent.ContainsKey(p.Piece))
                {
                    AddSpecial(i, p.Piece);
                }
            }
        }

        _splitLongestFirst = config.SplitSpecialTokens
            ? []
            : [.. _addedByContent.Values.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id)];

        // transformers turns every piece string back into an id through its added tokens first.
        foreach (var t in _addedByContent.Values)
        {
            if (_pieceIds.TryGetValue(t.Content, out int piece) && piece != t.Id)
            {
                _pieceToAdded[piece] = t.Id;
            }
        }

        _metaPieceId = _pieceIds.TryGetValue(Meta.ToString(), out int meta) ? meta : -1;
        BosTokenId = ResolveToken(config.Bos, "bos_token");
        EosTokenId = ResolveToken(config.Eos, "eos_token");
        UnknownTokenId = ResolveToken(config.Unk, "unk_token");
        PadTokenId = config.Pad is null ? null : ResolveToken(config.Pad, "pad_token");
        int maxAdded = _addedById.Count == 0 ? -1 : _addedById.Keys.Max();
        VocabSize = Math.Max(model.Pieces.Count, maxAdded + 1);
        _unkPrefixLength = SentencePieceIds(config.Unk, dummyPrefix: false).Count;

        // The reference decides whether chunks carry a BOS to strip by encoding a probe string.
        _promptBosOffset = Encode("test string") is [var first, ..] && first == BosTokenId ? 1 : 0;

        void AddSpecial(int id, string content)
        {
            var t = new AddedToken(id, content, Special: true);
            _addedById[id] = t;
            _addedByContent[content] = t;
        }
    }

    /// <summary>The SentencePiece model (pieces, scores, types, normalizer spec).</summary>
    public SentencePieceModel Model => _model;

    /// <summary>Which transformers Llama tokenizer the ids reproduce.</summary>
    public TokenizerBackend Backend => _config.Backend;

    /// <summary>Number of token ids the tokenizer can produce: SentencePiece pieces and added tokens
    /// (transformers <c>len(tokenizer)</c>; the LLM embedding may have more rows).</summary>
    public int VocabSize { get; }

    public int BosTokenId { get; }

    public int EosTokenId { get; }

    public int UnknownTokenId { get; }

    /// <summary>Pad token id when the config names one (Phi-3: <c>&lt;|endoftext|&gt;</c>, equal to EOS).</summary>
    public int? PadTokenId { get; }

    public bool AddBosToken => _config.AddBos;

    public bool AddEosToken => _config.AddEos;

    /// <summary>tokenizer_config.json <c>legacy</c> (slow backend; absent or null is true).</summary>
    public bool Legacy => _config.Legacy;

    /// <summary>tokenizer_config.json <c>add_prefix_space</c> (slow backend; absent is true, null false).</summary>
    public bool AddPrefixSpace => _config.AddPrefixSpace;

    /// <summary>Tokenizers backend: the Metaspace prepend scheme of tokenizer.json.</summary>
    public PrependScheme Prepend => _config.Prepend;

    /// <summary>All added tokens (including bos/eos/unk), by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens => [.. _addedById.Values.OrderBy(t => t.Id)];

    /// <summary>The added tokens that decoding with skipSpecialTokens removes, by id.</summary>
    public IReadOnlyList<AddedToken> SpecialTokens => [.. _addedById.Values.Where(t => t.Special).OrderBy(t => t.Id)];

    /// <summary>
    /// Loads <c>tokenizer.model</c> and the settings of a checkpoint folder (see <see cref="Phi3Tokenizer"/>).
    /// Without <paramref name="backend"/>, the folder's tokenizer_config.json <c>"backend": "tokenizers"</c>
    /// (transformers 5) selects <see cref="TokenizerBackend.Tokenizers"/>; otherwise it is the slow
    /// <see cref="TokenizerBackend.SentencePiece"/> tokenizer the reference uses.
    /// </summary>
    public static Phi3Tokenizer Load(string directory, TokenizerBackend? backend = null)
    {
        string modelPath = Path.Combine(directory, "tokenizer.model");
        if (!File.Exists(modelPath))
        {
            throw new TokenizerFileException(modelPath, "file not found (the Phi-3 tokenizer needs tokenizer.model)");
        }

        var model = SentencePieceModel.Load(modelPath);
        CheckSupported(model);
        return new Phi3Tokenizer(model, Phi3TokenizerConfig.Read(directory, modelPath, backend));
    }

    /// <summary>
    /// Token ids of <paramref name="text"/> as the checkpoint's transformers tokenizer returns them
    /// (<c>tokenizer(text).input_ids</c>).
    /// </summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (AddBosToken)
        {
            ids.Add(BosTokenId);
        }

        if (Backend == TokenizerBackend.SentencePiece)
        {
            EncodeSlow(text, ids);
        }
        else
        {
            EncodeFast(text, ids);
        }

        if (AddEosToken)
        {
            ids.Add(EosTokenId);
        }

        return [.. ids];
    }

    /// <summary>
    /// Plain SentencePiece encoding (<c>SentencePieceProcessor.encode(text)</c>): the model's own normalizer spec
    /// (dummy prefix, whitespace escaping), no added tokens, no BOS.
    /// </summary>
    public int[] EncodeSentencePiece(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. SentencePieceIds(text, _model.AddDummyPrefix)];
    }

    // The slow LlamaTokenizer.tokenize (see the remarks), on ids.
    private void EncodeSlow(string text, List<int> ids)
    {
        if (Legacy || text.Length == 0)
        {
            SlowTokenize(text, ids);
            return;
        }

        string prefixed = text.Replace(Meta, ' ');
        if (AddPrefixSpace)
        {
            prefixed = Meta + prefixed;
        }

        int first = ids.Count;
        SlowTokenize(prefixed, ids);
        if (ids.Count - first > 1 && ids[first] == _metaPieceId && _addedById.TryGetValue(ids[first + 1], out var next)
            && _config.AllSpecialTokens.Contains(next.Content))
        {
            ids.RemoveAt(first);
        }
    }

    // PreTrainedTokenizer.tokenize: cut the added tokens out, let their flags strip or glue the neighbouring text
    // (in list order, each step seeing the previous ones' edits, as the Python loop does), encode the rest.
    private void SlowTokenize(string text, List<int> ids)
    {
        var parts = SplitAddedTokens(text).Select(s => text.Substring(s.Start, s.Length)).ToList();
        for (int i = 0; i < parts.Count; i++)
        {
            if (!_addedByContent.TryGetValue(parts[i], out var token))
            {
                continue;
            }

            string content = parts[i];
            string left = i > 0 ? parts[i - 1] : "";
            string right = i + 1 < parts.Count ? parts[i + 1] : "";
            if (token.RStrip && right.Length > 0)
            {
                parts[i + 1] = PyText.LStrip(right);
            }

            if (token.LStrip && left.Length > 0)
            {
                parts[i - 1] = PyText.RStrip(left);
            }

            if (token.SingleWord && left.Length > 0 && left[^1] != ' ')
            {
                parts[i - 1] += content;
                parts[i] = "";
            }
            else if (token.SingleWord && right.Length > 0 && right[0] != ' ')
            {
                parts[i + 1] = content + parts[i + 1];
                parts[i] = "";
            }
        }

        foreach (string part in parts)
        {
            if (part.Length == 0)
            {
                continue;
            }

            if (_addedByContent.TryGetValue(part, out var token))
            {
                ids.Add(token.Id);
                continue;
            }

            foreach (int id in SlowPieces(part))
            {
                ids.Add(_pieceToAdded.TryGetValue(id, out int added) ? added : id);
            }
        }
    }

    // LlamaTokenizer._tokenize.
    private List<int> SlowPieces(string part)
    {
        if (Legacy)
        {
            return SentencePieceIds(part, _model.AddDummyPrefix);
        }

        if (part[0] != Meta && part[0] != ' ')
        {
            return SentencePieceIds(part, dummyPrefix: false);
        }

        var ids = SentencePieceIds(_config.Unk + part, dummyPrefix: false);
        return ids.Count >= _unkPrefixLength ? ids[_unkPrefixLength..] : ids;
    }

    // HF tokenizers: added tokens, then per text piece the normalizer, the Metaspace pre-tokenizer and BPE.
    private void EncodeFast(string text, List<int> ids)
    {
        foreach (var (start, length, token) in FastSplit(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }

            string piece = text.Substring(start, length).Replace(' ', Meta);
            bool prefix = _config.PrependNormalizer || _config.Prepend switch
            {
                PrependScheme.First => start == 0 && piece[0] != Meta,
                PrependScheme.Always => piece[0] != Meta,
                _ => false,
            };
            if (prefix)
            {
                piece = Meta + piece;
            }

            if (!_config.MetaspaceSplit)
            {
                _bpe.Encode(piece, ids);
                continue;
            }

            // Metaspace split: each "▁" starts a new word, and words are merged separately.
            for (int w = 0; w < piece.Length;)
            {
                int end = piece.IndexOf(Meta, w + 1);
                end = end < 0 ? piece.Length : end;
                _bpe.Encode(piece[w..end], ids);
                w = end;
            }
        }
    }

    // SentencePieceProcessor.encode with the identity normalizer: ' ' → "▁", the dummy prefix when asked for.
    private List<int> SentencePieceIds(string text, bool dummyPrefix)
    {
        var ids = new List<int>();
        if (text.Length == 0)
        {
            return ids;
        }

        string s = _model.EscapeWhitespaces ? text.Replace(' ', Meta) : text;
        _bpe.Encode(dummyPrefix ? Meta + s : s, ids);
        return ids;
    }

    /// <summary>
    /// Prompt ids with image sentinels, exactly as the reference <c>tokenizer_special_token</c> (spec §7.3): the
    /// prompt is split on <c>&lt;image3d&gt;</c> / <c>&lt;image&gt;</c>, each placeholder becomes
    /// <see cref="Image3DTokenId"/> / <see cref="ImageTokenId"/>, each non-empty text chunk is encoded on its own
    /// with its BOS removed, and one BOS is put at the very start when the first chunk is text.
    /// </summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int offset = _promptBosOffset;
        var ids = new List<int>();
        foreach (var chunk in SplitPlaceholders(prompt))
        {
            if (chunk == Image3DPlaceholder)
            {
                ids.Add(Image3DTokenId);
            }
            else if (chunk == ImagePlaceholder)
            {
                ids.Add(ImageTokenId);
            }
            else if (chunk.Length > 0)
            {
                if (ids.Count == 0 && offset == 1)
                {
                    ids.Add(BosTokenId);
                }

                ids.AddRange(Encode(chunk).AsSpan(offset));
            }
        }

        return [.. ids];
    }

    /// <summary>
    /// Text of <paramref name="ids"/>: added tokens as their content (special ones dropped when
    /// <paramref name="skipSpecialTokens"/>), pieces with "▁" → ' ', byte pieces reassembled as UTF-8, one
    /// leading space removed where encoding puts a "▁" in front. Ids the tokenizer does not know (e.g. unused
    /// embedding rows) are skipped.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            string token;
            if (_addedById.TryGetValue(id, out var added))
            {
                if (skipSpecialTokens && added.Special)
                {
                    continue;
                }

                token = added.Content;
            }
            else if (id >= 0 && id < _model.Pieces.Count)
            {
                token = _model.Pieces[id].Piece;
            }
            else
            {
                continue;
            }

            if (SentencePieceBpe.TryParseByte(token, out byte b))
            {
                bytes.Add(b);
                continue;
            }

            FlushBytes(bytes, text);
            text.Append(token.Replace(Meta, ' '));
        }

        FlushBytes(bytes, text);
        if (StripsLeadingSpace && text.Length > 0 && text[0] == ' ')
        {
            text.Remove(0, 1);
        }

        return _config.CleanUpTokenizationSpaces ? CleanUpTokenizationSpaces(text.ToString()) : text.ToString();
    }

    /// <summary>The piece or added-token string of an id, or null when the id is unknown.</summary>
    public string? IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var t))
        {
            return t.Content;
        }

        return id >= 0 && id < _model.Pieces.Count ? _model.Pieces[id].Piece : null;
    }

    /// <summary>The id of an added token or SentencePiece piece, or null.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out var t))
        {
            return t.Id;
        }

        return _pieceIds.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>Splits on the literal placeholders, keeping them (Python <c>re.split("(&lt;image3d&gt;|&lt;image&gt;)")</c>).</summary>
    internal static List<string> SplitPlaceholders(string prompt) =>
        [.. LiteralSplit.Split(prompt, [Image3DPlaceholder, ImagePlaceholder]).Select(s => s.Text)];


    // Cuts added tokens out of the raw text: the leftmost match wins, the longest token at that position.
    private List<(int Start, int Length, AddedToken? Token)> SplitAddedTokens(string text)
    {
        var segments = new List<(int, int, AddedToken?)>();
        int pos = 0;
        for (int i = 0; i < text.Length;)
        {
            AddedToken? match = null;
            foreach (var t in _splitLongestFirst)
            {
                if (text.AsSpan(i).StartsWith(t.Content, StringComparison.Ordinal))
                {
                    match = t;
                    break;
                }
            }

            if (match is null)
            {
                i++;
                continue;
            }

            if (i > pos)
            {
                segments.Add((pos, i - pos, null));
            }

            segments.Add((i, match.Content.Length, match));
            pos = i += match.Content.Length;
        }

        if (pos < text.Length)
        {
            segments.Add((pos, text.Length - pos, null));
        }

        return segments;
    }

    // tokenizers' added-token split: single_word rejects a match glued to a word character, lstrip / rstrip widen
    // the match over neighbouring whitespace (which is then not encoded).
    private List<(int Start, int Length, AddedToken? Token)> FastSplit(string text)
    {
        var segments = new List<(int, int, AddedToken?)>();
        int pos = 0;
        for (int i = 0; i < text.Length;)
        {
            AddedToken? match = null;
            foreach (var t in _splitLongestFirst)
            {
                if (text.AsSpan(i).StartsWith(t.Content, StringComparison.Ordinal)
                    && (!t.SingleWord || IsSingleWord(text, i, i + t.Content.Length)))
                {
                    match = t;
                    break;
                }
            }

            if (match is null)
            {
                i++;
                continue;
            }

            int start = i;
            int end = i + match.Content.Length;
            while (match.LStrip && start > pos && char.IsWhiteSpace(text[start - 1]))
            {
                start--;
            }

            while (match.RStrip && end < text.Length && char.IsWhiteSpace(text[end]))
            {
                end++;
            }

            if (start > pos)
            {
                segments.Add((pos, start - pos, null));
            }

            segments.Add((start, end - start, match));
            pos = i = end;
        }

        if (pos < text.Length)
        {
            segments.Add((pos, text.Length - pos, null));
        }

        return segments;
    }

    private static bool IsSingleWord(string text, int start, int end)
    {
        static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
        return (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false,
        throwOnInvalidBytes: true);

    // A run of byte pieces is decoded as one UTF-8 string; if the run is not valid UTF-8, every byte of it becomes
    // U+FFFD (tokenizers' ByteFallback decoder).
    private static void FlushBytes(List<byte> bytes, StringBuilder text)
    {
        if (bytes.Count == 0)
        {
            return;
        }

        try
        {
            text.Append(StrictUtf8.GetString([.. bytes]));
        }
        catch (DecoderFallbackException)
        {
            text.Append('\uFFFD', bytes.Count);
        }

        bytes.Clear();
    }

    // Whether encoding put a "▁" in front of the input, which decoding removes again.
    private bool StripsLeadingSpace => Backend == TokenizerBackend.SentencePiece
        ? (Legacy ? _model.AddDummyPrefix : AddPrefixSpace)
        : _config.PrependNormalizer || Prepend != PrependScheme.Never;

    // transformers' clean_up_tokenization: no space before . ? ! , and English contractions.
    private static string CleanUpTokenizationSpaces(string s) =>
        s.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
            .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve")
            .Replace(" 're", "'re");

    private int ResolveToken(string content, string what)
    {
        if (_addedByContent.TryGetValue(content, out var t))
        {
            return t.Id;
        }

        if (_pieceIds.TryGetValue(content, out int id))
        {
            return id;
        }

        throw new TokenizerFileException(_config.ConfigPath, $"{what} {InputText.Quote(content)} is neither an added token nor a piece");
    }

    private static void CheckSupported(SentencePieceModel model)
    {
        string path = model.FilePath;
        if (model.ModelType != SentencePieceModelType.Bpe)
        {
            throw new TokenizerFileException(path, $"model type {model.ModelType} is not supported (BPE only)");
        }

        if (model.PrecompiledCharsMapLength > 0)
        {
            throw new TokenizerFileException(path,
                $"normalizer '{model.NormalizerName}' rewrites characters; only the identity normalizer is supported");
        }

        if (model.RemoveExtraWhitespaces)
        {
            throw new TokenizerFileException(path, "normalizer removes extra whitespace; not supported");
        }

        if (model.TreatWhitespaceAsSuffix)
        {
            throw new TokenizerFileException(path, "treat_whitespace_as_suffix is not supported");
        }
    }
}
