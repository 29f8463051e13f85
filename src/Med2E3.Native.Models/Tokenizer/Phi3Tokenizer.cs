using System.Globalization;
using System.Text;
using System.Text.Json;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Files;
using Microsoft.ML.Tokenizers;

namespace Med2E3.Native.Models.Tokenizer;

/// <summary>Where the word-boundary marker "▁" is put in front of a piece of text (tokenizers' Metaspace).</summary>
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

/// <summary>
/// The Phi-3 (Llama) tokenizer: SentencePiece BPE with byte fallback, plus the added tokens of the checkpoint
/// (<c>&lt;|endoftext|&gt;</c> …), reproducing the transformers <c>LlamaTokenizer</c> that the reference used.
/// </summary>
/// <remarks>
/// Encoding, in order:
/// <list type="number">
/// <item>added tokens are cut out of the raw text, leftmost match first, longest match at a position;</item>
/// <item>each text piece between them gets ' ' → "▁", and "▁" is put in front per <see cref="Prepend"/>
///   (fixture and Phi-3: <see cref="PrependScheme.First"/>);</item>
/// <item>each piece is BPE-merged over the SentencePiece vocabulary; characters that end up in no piece become
///   their UTF-8 bytes <c>&lt;0xNN&gt;</c>; the merge step is Microsoft.ML.Tokenizers' SentencePiece BPE,
///   called on already-normalized text;</item>
/// <item>BOS (and EOS) are added per tokenizer_config.json <c>add_bos_token</c> / <c>add_eos_token</c>
///   (defaults true / false, as in transformers), also for the empty string.</item>
/// </list>
/// Decoding: pieces → text, "▁" → ' ', runs of byte pieces → UTF-8 (each byte of an invalid run becomes U+FFFD),
/// then one leading space is removed.
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
    private readonly LlamaTokenizer _bpe;
    private readonly Dictionary<string, int> _pieceIds;
    private readonly AddedToken[] _addedLongestFirst;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly string[] _userDefinedLongestFirst;
    private readonly int _promptBosOffset;

    private Phi3Tokenizer(SentencePieceModel model, LlamaTokenizer bpe, IEnumerable<AddedToken> added,
        PrependScheme prepend, bool addBos, bool addEos, string bosToken, string eosToken, string unkToken,
        string? padToken, string configPath)
    {
        _model = model;
        _bpe = bpe;
        _pieceIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            _pieceIds.TryAdd(model.Pieces[i].Piece, i);
        }

        _addedById = [];
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var t in added)
        {
            if (t.Content.Length == 0)
            {
                throw new TokenizerFileException(configPath, $"added token {t.Id} has empty content");
            }

            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t;
        }

        // transformers treats bos/eos/unk (and the SentencePiece control pieces) as special tokens that are cut out
        // of the text and skipped when decoding, whether or not the config lists them among the added tokens.
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            var p = model.Pieces[i];
            if ((p.Type is SentencePieceType.Control or SentencePieceType.Unknown) && !_addedById.ContainsKey(i)
                && !_addedByContent.ContainsKey(p.Piece))
            {
                var t = new AddedToken(i, p.Piece, Special: true);
                _addedById[i] = t;
                _addedByContent[p.Piece] = t;
            }
        }

        _addedLongestFirst = [.. _addedByContent.Values.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id)];
        _userDefinedLongestFirst =
        [
            .. model.Pieces.Where(p => p.Type == SentencePieceType.UserDefined).Select(p => p.Piece)
                .OrderByDescending(p => p.Length),
        ];

        Prepend = prepend;
        AddBosToken = addBos;
        AddEosToken = addEos;
        BosTokenId = ResolveToken(bosToken, "bos_token", configPath);
        EosTokenId = ResolveToken(eosToken, "eos_token", configPath);
        UnknownTokenId = ResolveToken(unkToken, "unk_token", configPath);
        PadTokenId = padToken is null ? null : ResolveToken(padToken, "pad_token", configPath);
        int maxAdded = _addedById.Count == 0 ? -1 : _addedById.Keys.Max();
        VocabSize = Math.Max(model.Pieces.Count, maxAdded + 1);

        // The reference decides whether chunks carry a BOS to strip by encoding a probe string.
        _promptBosOffset = Encode("test string") is [var first, ..] && first == BosTokenId ? 1 : 0;
    }

    /// <summary>The SentencePiece model (pieces, scores, types, normalizer spec).</summary>
    public SentencePieceModel Model => _model;

    /// <summary>Number of token ids the tokenizer can produce: SentencePiece pieces and added tokens
    /// (transformers <c>len(tokenizer)</c>; the LLM embedding may have more rows).</summary>
    public int VocabSize { get; }

    public int BosTokenId { get; }

    public int EosTokenId { get; }

    public int UnknownTokenId { get; }

    /// <summary>Pad token id when the config names one (Phi-3: <c>&lt;|endoftext|&gt;</c>, equal to EOS).</summary>
    public int? PadTokenId { get; }

    public bool AddBosToken { get; }

    public bool AddEosToken { get; }

    public PrependScheme Prepend { get; }

    /// <summary>All added tokens (including bos/eos/unk), by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens => [.. _addedById.Values.OrderBy(t => t.Id)];

    /// <summary>The added tokens that decoding with skipSpecialTokens removes, by id.</summary>
    public IReadOnlyList<AddedToken> SpecialTokens => [.. _addedById.Values.Where(t => t.Special).OrderBy(t => t.Id)];

    /// <summary>
    /// Loads <c>tokenizer.model</c> and the added tokens from a checkpoint directory: <c>tokenizer.json</c>
    /// (<c>added_tokens</c>, Metaspace <c>prepend_scheme</c>), else <c>tokenizer_config.json</c>
    /// (<c>added_tokens_decoder</c>), else <c>added_tokens.json</c>; bos/eos/unk/pad and add_bos_token /
    /// add_eos_token from <c>tokenizer_config.json</c> (then <c>special_tokens_map.json</c>).
    /// </summary>
    public static Phi3Tokenizer Load(string directory)
    {
        string modelPath = Path.Combine(directory, "tokenizer.model");
        if (!File.Exists(modelPath))
        {
            throw new TokenizerFileException(modelPath, "file not found (the Phi-3 tokenizer needs tokenizer.model)");
        }

        var model = SentencePieceModel.Load(modelPath);
        CheckSupported(model);

        LlamaTokenizer bpe;
        try
        {
            using var stream = File.OpenRead(modelPath);
            bpe = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not TokenizerFileException)
        {
            throw new TokenizerFileException(modelPath,
                $"Microsoft.ML.Tokenizers cannot load it ({InputText.Bounded(InputText.OneLine(e.Message))})", e);
        }

        string jsonPath = Path.Combine(directory, "tokenizer.json");
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        string addedPath = Path.Combine(directory, "added_tokens.json");
        string mapPath = Path.Combine(directory, "special_tokens_map.json");
        using var json = ReadJson(jsonPath);
        using var config = ReadJson(configPath);
        using var addedJson = ReadJson(addedPath);
        using var map = ReadJson(mapPath);

        string? Named(string key)
        {
            if (config is not null && config.RootElement.TryGetProperty(key, out var v) && TokenString(v) is { } s)
            {
                return s;
            }

            if (map is not null && map.RootElement.TryGetProperty(key, out var m) && TokenString(m) is { } t)
            {
                return t;
            }

            return null;
        }

        string PieceOr(int id, string fallback) =>
            id >= 0 && id < model.Pieces.Count ? model.Pieces[id].Piece : fallback;

        string bos = Named("bos_token") ?? PieceOr(model.BosId, "<s>");
        string eos = Named("eos_token") ?? PieceOr(model.EosId, "</s>");
        string unk = Named("unk_token") ?? PieceOr(model.UnknownId, "<unk>");
        string? pad = Named("pad_token");
        bool addBos = ConfigBool(config, configPath, "add_bos_token") ?? true;
        bool addEos = ConfigBool(config, configPath, "add_eos_token") ?? false;

        var added = new List<AddedToken>();
        if (json is not null && json.RootElement.TryGetProperty("added_tokens", out var list))
        {
            added.AddRange(ParseTokenizerJsonAddedTokens(list, jsonPath));
        }
        else if (config is not null && config.RootElement.TryGetProperty("added_tokens_decoder", out var decoder))
        {
            added.AddRange(ParseAddedTokensDecoder(decoder, configPath));
        }
        else if (addedJson is not null)
        {
            var specials = new HashSet<string>(StringComparer.Ordinal) { bos, eos, unk };
            if (pad is not null)
            {
                specials.Add(pad);
            }

            if (map is not null && map.RootElement.TryGetProperty("additional_special_tokens", out var extra)
                && extra.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in extra.EnumerateArray())
                {
                    if (TokenString(e) is { } s)
                    {
                        specials.Add(s);
                    }
                }
            }

            foreach (var p in addedJson.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                {
                    throw new TokenizerFileException(addedPath, $"token {InputText.Quote(p.Name)} has no integer id");
                }

                added.Add(new AddedToken(CheckId(id, addedPath, p.Name), p.Name, specials.Contains(p.Name)));
            }
        }

        var prepend = model.AddDummyPrefix ? PrependScheme.First : PrependScheme.Never;
        if (json is not null && FindMetaspace(json.RootElement) is { } metaspace
            && metaspace.TryGetProperty("prepend_scheme", out var scheme) && scheme.ValueKind == JsonValueKind.String)
        {
            prepend = scheme.GetString() switch
            {
                "first" => PrependScheme.First,
                "always" => PrependScheme.Always,
                "never" => PrependScheme.Never,
                var other => throw new TokenizerFileException(jsonPath,
                    $"unknown Metaspace prepend_scheme {InputText.Quote(other)} (first, always or never)"),
            };
        }

        return new Phi3Tokenizer(model, bpe, added, prepend, addBos, addEos, bos, eos, unk, pad,
            config is not null ? configPath : modelPath);
    }

    /// <summary>
    /// Token ids of <paramref name="text"/> as the reference tokenizer returns them (<c>tokenizer(text).input_ids</c>):
    /// BOS when <see cref="AddBosToken"/>, added tokens cut out, the rest SentencePiece BPE.
    /// </summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (AddBosToken)
        {
            ids.Add(BosTokenId);
        }

        foreach (var (start, length, token) in SplitAddedTokens(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }

            string piece = text.Substring(start, length);
            if (_model.EscapeWhitespaces)
            {
                piece = piece.Replace(' ', Meta);
            }

            bool prefix = Prepend switch
            {
                PrependScheme.First => start == 0 && piece[0] != Meta,
                PrependScheme.Always => piece[0] != Meta,
                _ => false,
            };
            EncodeNormalized(prefix ? Meta + piece : piece, ids);
        }

        if (AddEosToken)
        {
            ids.Add(EosTokenId);
        }

        return [.. ids];
    }

    /// <summary>
    /// Plain SentencePiece encoding (<c>SentencePieceProcessor.encode(text)</c>): the model's own normalizer spec
    /// (dummy prefix always, whitespace escaping), no added tokens, no BOS.
    /// </summary>
    public int[] EncodeSentencePiece(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (text.Length == 0)
        {
            return [];
        }

        string s = _model.EscapeWhitespaces ? text.Replace(' ', Meta) : text;
        EncodeNormalized(_model.AddDummyPrefix ? Meta + s : s, ids);
        return [.. ids];
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
    /// leading space removed. Ids the tokenizer does not know (e.g. unused embedding rows) are skipped.
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

            if (TryParseByteToken(token, out byte b))
            {
                bytes.Add(b);
                continue;
            }

            FlushBytes(bytes, text);
            text.Append(token.Replace(Meta, ' '));
        }

        FlushBytes(bytes, text);
        if (Prepend != PrependScheme.Never && text.Length > 0 && text[0] == ' ')
        {
            text.Remove(0, 1);
        }

        return text.ToString();
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

    // BPE over text that is already normalized ("▁" for spaces, prefix decided). User-defined pieces are matched
    // whole first, as SentencePiece does; everything else goes to the library's merge loop.
    private void EncodeNormalized(string normalized, List<int> ids)
    {
        if (_userDefinedLongestFirst.Length == 0)
        {
            ids.AddRange(MergeBpe(normalized));
            return;
        }

        foreach (var (part, isPiece) in LiteralSplit.Split(normalized, _userDefinedLongestFirst))
        {
            if (isPiece)
            {
                ids.Add(_pieceIds[part]);
            }
            else if (part.Length > 0)
            {
                ids.AddRange(MergeBpe(part));
            }
        }
    }

    private IReadOnlyList<int> MergeBpe(string normalized) =>
        _bpe.EncodeToIds(normalized, addBeginningOfSentence: false, addEndOfSentence: false,
            considerPreTokenization: false, considerNormalization: false);

    // Cuts added tokens out of the raw text: the leftmost match wins, the longest token at that position;
    // lstrip/rstrip widen the match over neighbouring whitespace, single_word rejects matches inside a word.
    private List<(int Start, int Length, AddedToken? Token)> SplitAddedTokens(string text)
    {
        var segments = new List<(int, int, AddedToken?)>();
        int pos = 0;
        int i = 0;
        while (i < text.Length)
        {
            AddedToken? match = null;
            foreach (var t in _addedLongestFirst)
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
            if (match.LStrip)
            {
                while (start > pos && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }

            if (match.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }
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

    private static bool TryParseByteToken(string token, out byte b)
    {
        b = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out b);
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

    private int ResolveToken(string content, string what, string configPath)
    {
        if (_addedByContent.TryGetValue(content, out var t))
        {
            return t.Id;
        }

        if (_pieceIds.TryGetValue(content, out int id))
        {
            return id;
        }

        throw new TokenizerFileException(configPath, $"{what} {InputText.Quote(content)} is neither an added token nor a piece");
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

    /// <summary>Largest tokenizer JSON file read (Phi-3's tokenizer.json is 1.8 MB; the largest vocabularies ~20 MB).</summary>
    public const long MaxJsonBytes = 256L << 20;

    private static JsonDocument? ReadJson(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        byte[] bytes = FileBytes.Read(path, MaxJsonBytes, "a tokenizer file", problem => new TokenizerFileException(path, problem));

        var doc = JsonText.Parse(bytes, default, problem => new TokenizerFileException(path, problem));
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new TokenizerFileException(path, "expected a JSON object at the top level");
        }

        return doc;
    }

    /// <summary>An added token's id must be a non-negative id below <see cref="ConfigLimits.MaxVocab"/>.</summary>
    private static int CheckId(int id, string path, string content) =>
        id >= 0 && id < ConfigLimits.MaxVocab
            ? id
            : throw new TokenizerFileException(path,
                $"added token {InputText.Quote(content)} has id {id}; allowed: 0 to {ConfigLimits.MaxVocab - 1}");

    private static bool? ConfigBool(JsonDocument? config, string path, string key)
    {
        if (config is null || !config.RootElement.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new TokenizerFileException(path, $"'{key}' must be true or false"),
        };
    }

    // A token in a config is either a plain string or an AddedToken object {"content": ...}.
    private static string? TokenString(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Object when e.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String
            => c.GetString(),
        _ => null,
    };

    private static bool Flag(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;

    private static IEnumerable<AddedToken> ParseTokenizerJsonAddedTokens(JsonElement list, string path)
    {
        if (list.ValueKind != JsonValueKind.Array)
        {
            throw new TokenizerFileException(path, "'added_tokens' must be an array");
        }

        int index = 0;
        foreach (var e in list.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("id", out var id)
                || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int tokenId)
                || TokenString(e) is not { } content)
            {
                throw new TokenizerFileException(path, $"added_tokens[{index}] needs an integer 'id' and a 'content'");
            }

            yield return new AddedToken(CheckId(tokenId, path, content), content, Flag(e, "special"), Flag(e, "lstrip"),
                Flag(e, "rstrip"), Flag(e, "single_word"));
            index++;
        }
    }

    private static IEnumerable<AddedToken> ParseAddedTokensDecoder(JsonElement decoder, string path)
    {
        if (decoder.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerFileException(path, "'added_tokens_decoder' must be an object");
        }

        foreach (var p in decoder.EnumerateObject())
        {
            if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int tokenId)
                || TokenString(p.Value) is not { } content)
            {
                throw new TokenizerFileException(path,
                    $"added_tokens_decoder[{InputText.Quote(p.Name)}] needs an integer key and a 'content'");
            }

            var e = p.Value;
            bool special = e.ValueKind != JsonValueKind.Object || Flag(e, "special");
            yield return new AddedToken(CheckId(tokenId, path, content), content, special, Flag(e, "lstrip"),
                Flag(e, "rstrip"), Flag(e, "single_word"));
        }
    }

    private static JsonElement? FindMetaspace(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (pre.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "Metaspace")
        {
            return pre;
        }

        if (pre.TryGetProperty("pretokenizers", out var seq) && seq.ValueKind == JsonValueKind.Array)
        {
            foreach (var p in seq.EnumerateArray())
            {
                if (p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t)
                    && t.ValueKind == JsonValueKind.String && t.GetString() == "Metaspace")
                {
                    return p;
                }
            }
        }

        return null;
    }
}
