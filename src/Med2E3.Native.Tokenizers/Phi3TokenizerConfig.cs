using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Tokenizers;

/// <summary>
/// The settings of a Llama / Phi-3 tokenizer folder that change its ids, read from tokenizer_config.json,
/// special_tokens_map.json, added_tokens.json and tokenizer.json with transformers' defaults.
/// </summary>
internal sealed class Phi3TokenizerConfig
{
    private Phi3TokenizerConfig(string modelPath)
    {
        ModelPath = modelPath;
        ConfigPath = modelPath;
    }

    public string ModelPath { get; }

    /// <summary>The file named in errors about the settings: tokenizer_config.json when present.</summary>
    public string ConfigPath { get; private set; }

    public TokenizerBackend Backend { get; private set; }

    public string Bos { get; private set; } = "<s>";

    public string Eos { get; private set; } = "</s>";

    public string Unk { get; private set; } = "<unk>";

    public string? Pad { get; private set; }

    public bool AddBos { get; private set; } = true;

    public bool AddEos { get; private set; }

    /// <summary><c>legacy</c>; absent or null is true, as in transformers (which warns about it).</summary>
    public bool Legacy { get; private set; } = true;

    /// <summary><c>add_prefix_space</c>; absent is true; null is Python's None, which the slow tokenizer treats as false.</summary>
    public bool AddPrefixSpace { get; private set; } = true;

    public bool SplitSpecialTokens { get; private set; }

    public bool CleanUpTokenizationSpaces { get; private set; }

    /// <summary>The added tokens the files list (tokenizer.json for the tokenizers backend, else tokenizer_config.json
    /// <c>added_tokens_decoder</c>, else added_tokens.json).</summary>
    public List<AddedToken> Added { get; } = [];

    /// <summary>transformers' <c>all_special_tokens</c>: bos, eos, unk, sep, pad, cls, mask and
    /// additional_special_tokens.</summary>
    public HashSet<string> AllSpecialTokens { get; } = new(StringComparer.Ordinal);

    /// <summary>Tokenizers backend: the Metaspace prepend scheme.</summary>
    public PrependScheme Prepend { get; private set; } = PrependScheme.First;

    /// <summary>Tokenizers backend: a <c>Prepend("▁")</c> normalizer (the legacy conversion) puts "▁" in front of every piece.</summary>
    public bool PrependNormalizer { get; private set; }

    /// <summary>Tokenizers backend: Metaspace <c>split</c>, cutting text into words before each "▁".</summary>
    public bool MetaspaceSplit { get; private set; }

    /// <summary>
    /// Reads the folder. <paramref name="backend"/> null picks the tokenizers backend where tokenizer_config.json
    /// says <c>"backend": "tokenizers"</c> (transformers 5) and the slow SentencePiece one otherwise (the
    /// reference's <c>use_fast=False</c>).
    /// </summary>
    public static Phi3TokenizerConfig Read(string directory, string modelPath, TokenizerBackend? backend)
    {
        var c = new Phi3TokenizerConfig(modelPath);
        string jsonPath = Path.Combine(directory, "tokenizer.json");
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        string addedPath = Path.Combine(directory, "added_tokens.json");
        string mapPath = Path.Combine(directory, "special_tokens_map.json");
        using var config = ReadJson(configPath);
        using var map = ReadJson(mapPath);
        if (config is not null)
        {
            c.ConfigPath = configPath;
        }

        var root = config?.RootElement;
        c.Backend = backend ?? (root is { } r && r.TryGetProperty("backend", out var b)
            && b.ValueKind == JsonValueKind.String && b.GetString() == "tokenizers"
                ? TokenizerBackend.Tokenizers
                : TokenizerBackend.SentencePiece);
        using var json = c.Backend == TokenizerBackend.Tokenizers ? ReadJson(jsonPath) : null;
        using var addedJson = ReadJson(addedPath);

        string? Named(string key)
        {
            if (root is { } cfg && cfg.TryGetProperty(key, out var v) && TokenString(v) is { } s)
            {
                return s;
            }

            return map is not null && map.RootElement.TryGetProperty(key, out var m) && TokenString(m) is { } t
                ? t
                : null;
        }

        c.Bos = Named("bos_token") ?? c.Bos;
        c.Eos = Named("eos_token") ?? c.Eos;
        c.Unk = Named("unk_token") ?? c.Unk;
        c.Pad = Named("pad_token");
        c.AllSpecialTokens.UnionWith([c.Bos, c.Eos, c.Unk]);
        foreach (string key in new[] { "sep_token", "pad_token", "cls_token", "mask_token" })
        {
            if (Named(key) is { } token)
            {
                c.AllSpecialTokens.Add(token);
            }
        }

        foreach (var doc in new[] { config, map })
        {
            if (doc is not null && doc.RootElement.TryGetProperty("additional_special_tokens", out var extra)
                && extra.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in extra.EnumerateArray())
                {
                    if (TokenString(e) is { } s)
                    {
                        c.AllSpecialTokens.Add(s);
                    }
                }

                break;
            }
        }

        c.AddBos = Bool(root, configPath, "add_bos_token", nullIs: null) ?? true;
        c.AddEos = Bool(root, configPath, "add_eos_token", nullIs: null) ?? false;
        c.Legacy = Bool(root, configPath, "legacy", nullIs: true) ?? true;
        c.AddPrefixSpace = Bool(root, configPath, "add_prefix_space", nullIs: false) ?? true;
        c.SplitSpecialTokens = Bool(root, configPath, "split_special_tokens", nullIs: false) ?? false;
        c.CleanUpTokenizationSpaces = Bool(root, configPath, "clean_up_tokenization_spaces", nullIs: false) ?? false;
        if (root is { } kw && kw.TryGetProperty("sp_model_kwargs", out var spKwargs)
            && spKwargs.ValueKind == JsonValueKind.Object
            && spKwargs.TryGetProperty("enable_sampling", out var sampling) && sampling.ValueKind == JsonValueKind.True)
        {
            throw new TokenizerFileException(configPath, "sp_model_kwargs enable_sampling (subword regularization) is not supported");
        }

        if (json is not null && json.RootElement.TryGetProperty("added_tokens", out var list))
        {
            c.Added.AddRange(ParseTokenizerJsonAddedTokens(list, jsonPath));
        }
        else if (root is { } cfg2 && cfg2.TryGetProperty("added_tokens_decoder", out var decoder))
        {
            c.Added.AddRange(ParseAddedTokensDecoder(decoder, configPath));
        }
        else if (addedJson is not null)
        {
            foreach (var p in addedJson.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                {
                    throw new TokenizerFileException(addedPath, $"token {InputText.Quote(p.Name)} has no integer id");
                }

                c.Added.Add(new AddedToken(CheckId(id, addedPath, p.Name), p.Name, c.AllSpecialTokens.Contains(p.Name)));
            }
        }

        if (c.Backend == TokenizerBackend.Tokenizers)
        {
            c.ReadTokenizersPipeline(json?.RootElement, jsonPath);
        }

        return c;
    }

    // tokenizer.json's normalizer and pre-tokenizer; without the file, what transformers' Llama converter builds
    // from tokenizer_config.json (legacy: Prepend("▁") + Replace(" ", "▁"); else Metaspace "first" or "never").
    private void ReadTokenizersPipeline(JsonElement? json, string jsonPath)
    {
        if (json is not { } root)
        {
            PrependNormalizer = Legacy && AddPrefixSpace;
            Prepend = Legacy || !AddPrefixSpace ? PrependScheme.Never : PrependScheme.First;
            return;
        }

        Prepend = PrependScheme.Never;
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind == JsonValueKind.Object)
        {
            foreach (var n in Steps(normalizer, "normalizers"))
            {
                switch (TypeOf(n))
                {
                    case "Prepend" when n.TryGetProperty("prepend", out var s) && s.GetString() == "\u2581":
                        PrependNormalizer = true;
                        break;
                    case "Replace" when IsSpaceToMeta(n):
                        break;
                    case var other:
                        throw new TokenizerFileException(jsonPath, $"normalizer {InputText.Quote(other)} is not supported");
                }
            }
        }

        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in Steps(pre, "pretokenizers"))
            {
                if (TypeOf(p) != "Metaspace")
                {
                    throw new TokenizerFileException(jsonPath, $"pre-tokenizer {InputText.Quote(TypeOf(p))} is not supported");
                }

                // tokenizers < 0.19 wrote add_prefix_space instead of prepend_scheme, and split defaults to true.
                Prepend = p.TryGetProperty("prepend_scheme", out var scheme) && scheme.ValueKind == JsonValueKind.String
                    ? scheme.GetString() switch
                    {
                        "first" => PrependScheme.First,
                        "always" => PrependScheme.Always,
                        "never" => PrependScheme.Never,
                        var other => throw new TokenizerFileException(jsonPath,
                            $"unknown Metaspace prepend_scheme {InputText.Quote(other)} (first, always or never)"),
                    }
                    : p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False
                        ? PrependScheme.Never
                        : PrependScheme.Always;
                MetaspaceSplit = !p.TryGetProperty("split", out var split) || split.ValueKind != JsonValueKind.False;
            }
        }
    }

    private static IEnumerable<JsonElement> Steps(JsonElement e, string sequenceKey) =>
        TypeOf(e) == "Sequence" && e.TryGetProperty(sequenceKey, out var seq) && seq.ValueKind == JsonValueKind.Array
            ? seq.EnumerateArray()
            : [e];

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : "?";

    private static bool IsSpaceToMeta(JsonElement replace) =>
        replace.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object
        && pattern.TryGetProperty("String", out var from) && from.GetString() == " "
        && replace.TryGetProperty("content", out var to) && to.GetString() == "\u2581";

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

    /// <summary>An added token's id must be a non-negative id below <see cref="TokenizerLimits.MaxVocab"/>.</summary>
    private static int CheckId(int id, string path, string content) =>
        id >= 0 && id < TokenizerLimits.MaxVocab
            ? id
            : throw new TokenizerFileException(path,
                $"added token {InputText.Quote(content)} has id {id}; allowed: 0 to {TokenizerLimits.MaxVocab - 1}");

    // true / false as they are; JSON null as nullIs (Python None where the code tests truthiness); absent → null.
    private static bool? Bool(JsonElement? config, string path, string key, bool? nullIs)
    {
        if (config is not { } root || !root.TryGetProperty(key, out var v))
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => nullIs,
            _ => throw new TokenizerFileException(path, $"'{key}' must be true, false or null"),
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
}
