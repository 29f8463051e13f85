using System.Globalization;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Models.Weights;

/// <summary>Options for <see cref="Med2E3Checkpoint.Open"/>.</summary>
public sealed record CheckpointOptions
{
    /// <summary>The BERT WordPiece <c>vocab.txt</c>; when null it is searched for (see <see cref="Med2E3Checkpoint.BertVocabSearch"/>).</summary>
    public string? BertVocabPath { get; init; }

    /// <summary>
    /// Replace <c>text_mlp.*</c> by a seeded N(0, 0.02) weight and zero bias, as the official loader (which forgets
    /// to load it) effectively does. Off by default: the trained <c>text_mlp</c> from the checkpoint is used.
    /// </summary>
    public bool MimicReferenceTextMlp { get; init; }

    /// <summary>Seed of the <see cref="MimicReferenceTextMlp"/> draw.</summary>
    public ulong ReferenceTextMlpSeed { get; init; }

    /// <summary>BERT head count, when it is not width / 64.</summary>
    public int? BertAttentionHeads { get; init; }

    /// <summary>Throw <see cref="CheckpointMismatchException"/> from Open when the report has problems (default).</summary>
    public bool Strict { get; init; } = true;
}

/// <summary>The Phi-3 tokenizer files found in the checkpoint root (null where absent).</summary>
public sealed record TokenizerFiles(string Directory, string? TokenizerModel, string? TokenizerJson,
    string? TokenizerConfig, string? SpecialTokensMap, string? AddedTokens)
{
    public IEnumerable<string> Present =>
        new[] { TokenizerModel, TokenizerJson, TokenizerConfig, SpecialTokensMap, AddedTokens }.OfType<string>();
}

/// <summary>One component folder: its files, format and state dict (tensor bytes read on demand).</summary>
public sealed record CheckpointComponent(string Name, string Directory, string WeightsPath, WeightFormat Format,
    StateDict Weights, string KeyPrefix);

/// <summary>
/// A Med-2E3 checkpoint in the released layout (spec §8): <c>args/config.json</c>, <c>llm/</c>,
/// <c>vision2d_model/</c>, <c>vision2d_connector/</c>, <c>vision3d_model/</c>, <c>vision3d_connector/</c> and the
/// tokenizer files. Opening reads every config and every weight header, derives the BERT config from the weights,
/// and checks every key and shape against the configs (<see cref="Report"/>); tensor bytes are read only when used.
/// </summary>
public sealed class Med2E3Checkpoint
{
    public const string LlmDir = "llm";
    public const string Vision2DModelDir = "vision2d_model";
    public const string Vision2DConnectorDir = "vision2d_connector";
    public const string Vision3DModelDir = "vision3d_model";
    public const string Vision3DConnectorDir = "vision3d_connector";

    private Med2E3Checkpoint() { }

    public required string Root { get; init; }
    public required CheckpointOptions Options { get; init; }
    public required Med2E3Args Args { get; init; }
    public required Phi3Config LlmConfig { get; init; }
    public required SiglipVisionConfig Vision2DConfig { get; init; }
    public required M3dClipConfig Vision3DConfig { get; init; }

    /// <summary>Derived from the <c>language_encoder.*</c> weights of <c>vision3d_model</c>.</summary>
    public required BertConfig BertConfig { get; init; }

    public required CheckpointComponent Llm { get; init; }

    /// <summary>SigLIP weights, keys without the <c>vision_model.</c> prefix (see <see cref="CheckpointComponent.KeyPrefix"/>).</summary>
    public required CheckpointComponent Vision2DModel { get; init; }

    public required CheckpointComponent Vision2DConnector { get; init; }

    /// <summary>M3D-CLIP weights: <c>vision_encoder.*</c>, <c>language_encoder.*</c> (BERT), unused projections.</summary>
    public required CheckpointComponent Vision3DModel { get; init; }

    /// <summary>3D connector and <c>text_mlp</c> (replaced when <see cref="CheckpointOptions.MimicReferenceTextMlp"/>).</summary>
    public required CheckpointComponent Vision3DConnector { get; init; }

    public required TokenizerFiles Tokenizer { get; init; }

    /// <summary>The BERT <c>vocab.txt</c>, or null when none was found.</summary>
    public required string? BertVocabPath { get; init; }

    public required LoadReport Report { get; init; }

    /// <summary>All five components, in the order llm, vision2d_model, vision2d_connector, vision3d_model, vision3d_connector.</summary>
    public IReadOnlyList<CheckpointComponent> Components => [Llm, Vision2DModel, Vision2DConnector, Vision3DModel, Vision3DConnector];

    /// <summary>Where the BERT vocab is looked for when no explicit path is given, in order.</summary>
    public static IReadOnlyList<string> BertVocabSearch(string root) =>
    [
        Path.Combine(root, Vision3DModelDir, "vocab.txt"),
        Path.Combine(root, Vision3DModelDir, "tokenizer", "vocab.txt"),
        Path.Combine(root, "text_tokenizer", "vocab.txt"),
        Path.GetFullPath(Path.Combine(root, "..", "text_tokenizer", "vocab.txt")),
    ];

    /// <summary>Opens the checkpoint folder <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointFormatException">A file is missing, malformed or unsafe.</exception>
    /// <exception cref="CheckpointConfigException">A config lacks a required field.</exception>
    /// <exception cref="CheckpointMismatchException">With <see cref="CheckpointOptions.Strict"/>: weights and configs disagree.</exception>
    public static Med2E3Checkpoint Open(string directory, CheckpointOptions? options = null)
    {
        options ??= new CheckpointOptions();
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw new CheckpointFormatException(root, "checkpoint directory not found");
        }
        string argsPath = Path.Combine(root, "args", "config.json");
        if (!File.Exists(argsPath))
        {
            argsPath = Path.Combine(root, "config.json");
        }
        if (!File.Exists(argsPath))
        {
            throw new CheckpointFormatException(root, "neither args/config.json nor config.json exists");
        }
        // Every config is checked field by field (types, ranges, consistency) as it is read.
        Med2E3Args args = Med2E3Args.Load(argsPath);
        Phi3Config llmConfig = Phi3Config.From(ComponentConfig(root, LlmDir, args, "llm_config"));
        SiglipVisionConfig v2Config =
            SiglipVisionConfig.From(ComponentConfig(root, Vision2DModelDir, args, "vision2d_model_config"));
        M3dClipConfig v3Config = M3dClipConfig.From(ComponentConfig(root, Vision3DModelDir, args, "vision3d_model_config"));
        if (args.LlmMaxLength > llmConfig.MaxPositionEmbeddings)
        {
            throw args.Json.OutOfRange("llm_max_length", args.LlmMaxLength,
                $"1 to max_position_embeddings {llmConfig.MaxPositionEmbeddings} of {llmConfig.SourcePath}");
        }

        // The weight headers are read with the layer-free part of each key table (its prefix detection needs only
        // that), then the layer counts of the configs are checked against the weights before any full table is built.
        CheckpointComponent llm = OpenComponent(root, LlmDir, ExpectedKeys.Llm(llmConfig, layers: 1));
        CheckpointComponent v2 = OpenComponent(root, Vision2DModelDir, ExpectedKeys.Vision2D(v2Config, layers: 1));
        CheckpointComponent v2c = OpenComponent(root, Vision2DConnectorDir, ExpectedKeys.Vision2DConnector(1, 1));
        CheckpointComponent v3 = OpenComponent(root, Vision3DModelDir, ExpectedKeys.Vision3DEncoder(v3Config, layers: 1));
        CheckpointComponent v3c = OpenComponent(root, Vision3DConnectorDir, ExpectedKeys.Vision3DConnector(1, 1, 1));
        CheckLayerCount(llmConfig.SourcePath, "num_hidden_layers", llmConfig.NumHiddenLayers, llm.Weights, "model.layers.");
        CheckLayerCount(v2Config.SourcePath, "num_hidden_layers", v2Config.NumHiddenLayers, v2.Weights, "encoder.layers.");
        CheckLayerCount(v3Config.SourcePath, "num_layers", v3Config.NumLayers, v3.Weights, "vision_encoder.blocks.");
        BertConfig bert = BertConfig.FromWeights(v3.Weights, BertConfig.DefaultPrefix, options.BertAttentionHeads);

        var notes = new List<string>();
        var mayBeMissing = new HashSet<string>();
        if (options.MimicReferenceTextMlp)
        {
            IReadOnlyList<WeightTensor> mimic =
                ReferenceTextMlp.Create(llmConfig.HiddenSize, bert.HiddenSize, options.ReferenceTextMlpSeed);
            bool had = v3c.Weights.ContainsKey("text_mlp.weight");
            v3c = v3c with { Weights = v3c.Weights.With(mimic) };
            mayBeMissing.UnionWith(["text_mlp.weight", "text_mlp.bias"]);
            notes.Add($"text_mlp: {(had ? "checkpoint values replaced" : "absent; created")} by a seeded " +
                      $"N(0, {ReferenceTextMlp.InitStd}) weight and zero bias (seed {options.ReferenceTextMlpSeed}), " +
                      "mimicking the official loader");
        }
        if (bert.HeadsAssumed)
        {
            notes.Add($"bert: {bert.NumAttentionHeads} attention heads assumed (width {bert.HiddenSize} / 64)");
        }

        var tokenizer = new TokenizerFiles(root,
            FileOrNull(root, "tokenizer.model"), FileOrNull(root, "tokenizer.json"),
            FileOrNull(root, "tokenizer_config.json"), FileOrNull(root, "special_tokens_map.json"),
            FileOrNull(root, "added_tokens.json"));
        string? vocab;
        var configProblems = new List<string>();
        if (options.BertVocabPath is { } explicitVocab)
        {
            vocab = Path.GetFullPath(explicitVocab);
            if (!File.Exists(vocab))
            {
                throw new CheckpointFormatException(vocab, "BERT vocab file not found");
            }
        }
        else
        {
            vocab = BertVocabSearch(root).FirstOrDefault(File.Exists);
        }

        configProblems.AddRange(args.Validate());
        configProblems.AddRange(llmConfig.Validate());
        configProblems.AddRange(v2Config.Validate());
        configProblems.AddRange(v3Config.Validate());
        CrossCheck(root, args, llmConfig, v2Config, v3Config, bert, tokenizer, vocab, configProblems);

        ComponentReport[] components =
        [
            ComponentReport.Check(LlmDir, llm.Weights, ExpectedKeys.Llm(llmConfig), llm.Format),
            ComponentReport.Check(Vision2DModelDir, v2.Weights, ExpectedKeys.Vision2D(v2Config), v2.Format,
                v2.KeyPrefix),
            ComponentReport.Check(Vision2DConnectorDir, v2c.Weights,
                ExpectedKeys.Vision2DConnector(v2Config.HiddenSize, llmConfig.HiddenSize), v2c.Format),
            ComponentReport.Check(Vision3DModelDir, v3.Weights, ExpectedKeys.Vision3D(v3Config, bert), v3.Format),
            ComponentReport.Check(Vision3DConnectorDir, v3c.Weights,
                ExpectedKeys.Vision3DConnector(v3Config.HiddenSize, llmConfig.HiddenSize, bert.HiddenSize),
                v3c.Format, "", mayBeMissing),
        ];
        var report = new LoadReport(components, configProblems, notes);
        if (options.Strict)
        {
            report.ThrowIfInvalid(root);
        }
        return new Med2E3Checkpoint
        {
            Root = root,
            Options = options,
            Args = args,
            LlmConfig = llmConfig,
            Vision2DConfig = v2Config,
            Vision3DConfig = v3Config,
            BertConfig = bert,
            Llm = llm,
            Vision2DModel = v2,
            Vision2DConnector = v2c,
            Vision3DModel = v3,
            Vision3DConnector = v3c,
            Tokenizer = tokenizer,
            BertVocabPath = vocab,
            Report = report,
        };
    }

    private static ConfigJson ComponentConfig(string root, string dir, Med2E3Args args, string nestedField)
    {
        string path = Path.Combine(root, dir, "config.json");
        if (File.Exists(path))
        {
            return ConfigJson.Load(path);
        }
        return args.Json.Object(nestedField)
               ?? throw new CheckpointConfigException(path, "",
                   $"file not found, and {Path.GetFileName(args.SourcePath)} has no '{nestedField}' to fall back on");
    }

    private static CheckpointComponent OpenComponent(string root, string dir, IReadOnlyList<ExpectedTensor> known)
    {
        string folder = Path.Combine(root, dir);
        if (!Directory.Exists(folder))
        {
            throw new CheckpointFormatException(folder, "component folder not found");
        }
        string path = WeightFiles.Find(folder)
            ?? throw new CheckpointFormatException(folder,
                "no weights (looked for " + string.Join(", ", WeightFiles.SearchOrder) + ")");
        StateDict weights = WeightFiles.Read(path, out WeightFormat format);
        string prefix = DetectKeyPrefix(weights, known.Select(k => k.Key));
        if (prefix.Length > 0)
        {
            weights = weights.WithPrefixRemoved(prefix);
        }
        return new CheckpointComponent(dir, folder, path, format, weights, prefix);
    }

    /// <summary>
    /// The prefix shared by every key when no key matches the expected names as they are but some do once it is
    /// removed (e.g. <c>vision_model.</c> on SigLIP saves from transformers 4.x, <c>module.</c> from wrappers);
    /// empty otherwise. At most two leading segments are tried.
    /// </summary>
    public static string DetectKeyPrefix(StateDict weights, IEnumerable<string> expectedKeys)
    {
        var expected = expectedKeys.ToHashSet(StringComparer.Ordinal);
        if (weights.Count == 0 || weights.Keys.Any(expected.Contains))
        {
            return "";
        }
        string prefix = "";
        for (int depth = 0; depth < 2; depth++)
        {
            string first = weights.Keys.First();
            int dot = first.IndexOf('.', prefix.Length);
            if (dot < 0)
            {
                return "";
            }
            string candidate = first[..(dot + 1)];
            if (!weights.Keys.All(k => k.StartsWith(candidate, StringComparison.Ordinal)))
            {
                return "";
            }
            if (weights.Keys.Any(k => expected.Contains(k[candidate.Length..])))
            {
                return candidate;
            }
            prefix = candidate;
        }
        return "";
    }

    /// <summary>
    /// The layers the weights hold under <paramref name="prefix"/> (one more than the highest index) must be the
    /// <paramref name="configured"/> count of <paramref name="field"/>.
    /// </summary>
    private static void CheckLayerCount(string configPath, string field, int configured, StateDict weights, string prefix)
    {
        int present = 0;
        foreach (string key in weights.Keys)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }
            int dot = key.IndexOf('.', prefix.Length);
            if (dot > prefix.Length && int.TryParse(key.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None,
                    CultureInfo.InvariantCulture, out int i) && i < int.MaxValue)
            {
                present = Math.Max(present, i + 1);
            }
        }
        if (present != configured)
        {
            string holds = present == 0 ? $"no '{prefix}*' layers" : $"layers 0 to {present - 1} under '{prefix}'";
            throw new CheckpointConfigException(configPath, field,
                $"{configured} does not match the weights; allowed: {present} ({weights.Source} holds {holds})");
        }
    }

    private static string? FileOrNull(string root, string name)
    {
        string p = Path.Combine(root, name);
        return File.Exists(p) ? p : null;
    }

    private static void CrossCheck(string root, Med2E3Args args, Phi3Config llm, SiglipVisionConfig v2,
        M3dClipConfig v3, BertConfig bert, TokenizerFiles tokenizer, string? vocab, List<string> p)
    {
        string a = args.SourcePath;
        if (args.HiddenSize is { } h && h != llm.HiddenSize)
        {
            p.Add($"{a}: hidden_size {h} differs from the LLM's hidden_size {llm.HiddenSize} ({llm.SourcePath})");
        }
        CheckConnector(a, "vision2d_connector_config", args.Vision2DConnector, v2.HiddenSize, llm.HiddenSize, p);
        CheckConnector(a, "vision3d_connector_config", args.Vision3DConnector, v3.HiddenSize, llm.HiddenSize, p);
        if (v3.ImgSize.Length == 3 && (v2.ImageSize != v3.ImgSize[1] || v2.ImageSize != v3.ImgSize[2]))
        {
            p.Add($"{v2.SourcePath}: image_size {v2.ImageSize} differs from the volume slice size " +
                  $"{v3.ImgSize[1]}x{v3.ImgSize[2]} ({v3.SourcePath}); slices are fed to SigLIP unresized");
        }
        if (v2.NumChannels != 3)
        {
            p.Add($"{v2.SourcePath}: num_channels {v2.NumChannels}; slices are replicated to 3 channels");
        }
        int[] grid = v3.Grid;
        if (grid.Any(g => g % 2 != 0))
        {
            p.Add($"{v3.SourcePath}: patch grid {string.Join("x", grid)} has an odd side; the 3D connector pools 2x2x2");
        }
        else if (v3.ImgSize[0] % (grid[0] / 2) != 0)
        {
            p.Add($"{v3.SourcePath}: {v3.ImgSize[0]} slices do not split evenly into {grid[0] / 2} pooled depth " +
                  "groups (TG-IS)");
        }
        if (v3.VocabSize is { } vs && vs != bert.VocabSize)
        {
            p.Add($"{v3.SourcePath}: vocab_size {vs} differs from the BERT word embeddings' {bert.VocabSize} rows");
        }
        if (v3.MaxTextLen is { } mt && mt > bert.MaxPositionEmbeddings)
        {
            p.Add($"{v3.SourcePath}: max_text_len {mt} exceeds the BERT position table ({bert.MaxPositionEmbeddings})");
        }
        if (tokenizer.TokenizerModel is null && tokenizer.TokenizerJson is null)
        {
            p.Add($"{root}: no Phi-3 tokenizer (tokenizer.model or tokenizer.json)");
        }
        if (vocab is null)
        {
            p.Add($"{root}: no BERT vocab.txt for the question encoder (looked in " +
                  string.Join(", ", BertVocabSearch(root)) + "); give its path explicitly");
        }
        else
        {
            int lines;
            try
            {
                lines = File.ReadLines(vocab).Count();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CheckpointFormatException(vocab, "cannot read the BERT vocab: " + InputText.OneLine(e.Message), e);
            }
            if (lines > bert.VocabSize)
            {
                p.Add($"{vocab}: {lines} entries, more than the BERT embedding's {bert.VocabSize} rows");
            }
        }
    }

    private static void CheckConnector(string file, string field, ConnectorArgs? c, int input, int output,
        List<string> p)
    {
        if (c?.InputDim is { } i && i != input)
        {
            p.Add($"{file}: field '{field}.input_dim' {i} differs from the encoder width {input}");
        }
        if (c?.OutputDim is { } o && o != output)
        {
            p.Add($"{file}: field '{field}.output_dim' {o} differs from the LLM width {output}");
        }
    }
}
