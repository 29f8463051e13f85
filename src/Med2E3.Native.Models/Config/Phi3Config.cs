using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Models.Config;

/// <summary>LongRoPE ("longrope", or "su" in older Phi-3 revisions) scaling factors.</summary>
/// <param name="Type">"longrope" or "su" (identical math).</param>
/// <param name="ShortFactor">Per-frequency divisors used while the sequence fits the original context.</param>
/// <param name="LongFactor">Per-frequency divisors used beyond it.</param>
/// <param name="AttentionFactor">Explicit cos/sin scale from the config, if any.</param>
public sealed record LongRopeScaling(string Type, double[] ShortFactor, double[] LongFactor, double? AttentionFactor);

/// <summary>The Phi-3 decoder config (<c>llm/config.json</c>, transformers <c>Phi3Config</c>).</summary>
public sealed record Phi3Config
{
    public required string SourcePath { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required string HiddenAct { get; init; }
    public required int MaxPositionEmbeddings { get; init; }

    /// <summary>The pre-training context; LongRoPE switches to the long factors beyond it.</summary>
    public required int OriginalMaxPositionEmbeddings { get; init; }

    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public required double PartialRotaryFactor { get; init; }

    /// <summary>Null for plain RoPE.</summary>
    public LongRopeScaling? RopeScaling { get; init; }

    public int? BosTokenId { get; init; }

    /// <summary>All end-of-sequence ids (the config may give one or a list).</summary>
    public required int[] EosTokenIds { get; init; }

    public int? PadTokenId { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public required bool AttentionBias { get; init; }
    public int? SlidingWindow { get; init; }

    /// <summary>The first end-of-sequence id, or null.</summary>
    public int? EosTokenId => EosTokenIds.Length > 0 ? EosTokenIds[0] : null;

    /// <summary>Number of rotated features per head.</summary>
    public int RotaryDim => (int)(HeadDim * PartialRotaryFactor);

    /// <summary>Rows of the fused <c>qkv_proj</c> weight: Q heads, then K and V heads.</summary>
    public int QkvRows => (NumAttentionHeads + 2 * NumKeyValueHeads) * HeadDim;

    /// <summary>
    /// The LongRoPE scale applied to cos and sin: the explicit <c>attention_factor</c> if given, else
    /// sqrt(1 + ln(max / original) / ln(original)) when max &gt; original, else 1 (transformers' rule).
    /// </summary>
    public double RopeAttentionFactor
    {
        get
        {
            if (RopeScaling is null)
            {
                return 1.0;
            }
            if (RopeScaling.AttentionFactor is { } a)
            {
                return a;
            }
            double factor = (double)MaxPositionEmbeddings / OriginalMaxPositionEmbeddings;
            return factor <= 1.0 ? 1.0 : Math.Sqrt(1 + Math.Log(factor) / Math.Log(OriginalMaxPositionEmbeddings));
        }
    }

    public static Phi3Config Load(string path) => From(ConfigJson.Load(path));

    /// <summary>
    /// Reads and checks the config: every size in its range (<see cref="ConfigLimits"/>), the heads dividing the
    /// widths, the rotary dimension even, the LongRoPE factor lists of the right length, the epsilon, theta and
    /// factors finite and positive, the special token ids inside the vocabulary. LongRoPE may be given as
    /// <c>rope_scaling</c> (older transformers) or <c>rope_parameters</c> (newer), with <c>rope_theta</c> and
    /// <c>original_max_position_embeddings</c> either at the top level or inside that object.
    /// </summary>
    /// <exception cref="Formats.Checkpoints.CheckpointConfigException">A field is missing, mistyped or out of its range.</exception>
    public static Phi3Config From(ConfigJson j)
    {
        int vocab = j.Int("vocab_size", 1, ConfigLimits.MaxVocab);
        int hidden = j.Int("hidden_size", 1, ConfigLimits.MaxWidth);
        int heads = j.Int("num_attention_heads", 1, ConfigLimits.MaxWidth);
        int? headDim = j.OptionalInt("head_dim", 1, ConfigLimits.MaxHeadDim);
        if (headDim is null && hidden % heads != 0)
        {
            throw j.OutOfRange("num_attention_heads", heads, $"a divisor of hidden_size {hidden} (or give head_dim)");
        }
        int dh = headDim ?? hidden / heads;
        if (dh > ConfigLimits.MaxHeadDim)
        {
            throw j.OutOfRange("num_attention_heads", heads,
                $"at least hidden_size / {ConfigLimits.MaxHeadDim} (head width {dh} is more than {ConfigLimits.MaxHeadDim})");
        }
        int kvHeads = j.Int("num_key_value_heads", heads, 1, heads);
        if (heads % kvHeads != 0)
        {
            throw j.OutOfRange("num_key_value_heads", kvHeads, $"a divisor of num_attention_heads {heads}");
        }
        ConfigJson? rope = j.Object("rope_scaling");
        string ropeField = "rope_scaling";
        if (rope is null)
        {
            rope = j.Object("rope_parameters");
            ropeField = "rope_parameters";
        }
        const string thetaRange = "a number from 1 to 1e12";
        static bool IsTheta(double t) => t >= 1 && t <= 1e12;
        double theta = j.OptionalNumber("rope_theta", IsTheta, thetaRange)
                       ?? rope?.OptionalNumber("rope_theta", IsTheta, thetaRange) ?? 10000.0;
        const string partialRange = "a number > 0 and ≤ 1";
        static bool IsPartial(double p) => p > 0 && p <= 1;
        double partial = j.OptionalNumber("partial_rotary_factor", IsPartial, partialRange)
                         ?? rope?.OptionalNumber("partial_rotary_factor", IsPartial, partialRange) ?? 1.0;
        int rotary = (int)(dh * partial);
        if (rotary < 2 || rotary % 2 != 0)
        {
            throw j.OutOfRange(j.Has("partial_rotary_factor") ? "partial_rotary_factor" : "head_dim", partial,
                $"a value that makes the rotary width head_dim {dh} × partial_rotary_factor an even number ≥ 2 (it is {rotary})");
        }
        int maxPos = j.Int("max_position_embeddings", 1, ConfigLimits.MaxPositions);
        int? originalMax = j.OptionalInt("original_max_position_embeddings", 1, ConfigLimits.MaxPositions) ??
                           rope?.OptionalInt("original_max_position_embeddings", 1, ConfigLimits.MaxPositions);
        LongRopeScaling? scaling = null;
        if (rope is not null)
        {
            string type = rope.OptionalString("rope_type") ?? rope.OptionalString("type") ?? "default";
            if (type is "longrope" or "su")
            {
                const string factorRange = "a number > 0 and ≤ 1e6";
                static bool IsFactor(double f) => f > 0 && f <= 1e6;
                double[] shortFactor = rope.DoubleArray("short_factor", ConfigLimits.MaxHeadDim, IsFactor, factorRange);
                double[] longFactor = rope.DoubleArray("long_factor", ConfigLimits.MaxHeadDim, IsFactor, factorRange);
                foreach ((string name, double[] f) in new[] { ("short_factor", shortFactor), ("long_factor", longFactor) })
                {
                    if (f.Length != rotary / 2)
                    {
                        throw rope.Invalid(name, $"{f.Length} values; allowed: rotary width / 2 = {rotary / 2}");
                    }
                }
                scaling = new LongRopeScaling(type, shortFactor, longFactor,
                    rope.OptionalNumber("attention_factor", a => a > 0 && a <= 1e3, "a number > 0 and ≤ 1000"));
                if (originalMax is null)
                {
                    throw j.Invalid("original_max_position_embeddings",
                        "required for LongRoPE (top level or inside " + ropeField + ")");
                }
            }
            else if (type != "default")
            {
                throw rope.Invalid(rope.Has("rope_type") ? "rope_type" : "type",
                    $"{InputText.Quote(type)} is not supported; allowed: longrope, su or default");
            }
        }
        int[] eos = j.IntOrIntArray("eos_token_id", 0, vocab - 1);
        if (eos.Length == 0)
        {
            throw j.Invalid("eos_token_id", $"required but missing; allowed: a token id or a list of ids, each 0 to {vocab - 1}");
        }
        return new Phi3Config
        {
            SourcePath = j.FilePath,
            VocabSize = vocab,
            HiddenSize = hidden,
            IntermediateSize = j.Int("intermediate_size", 1, ConfigLimits.MaxWidth),
            NumHiddenLayers = j.Int("num_hidden_layers", 1, ConfigLimits.MaxLayers),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = dh,
            HiddenAct = j.String("hidden_act", "silu"),
            MaxPositionEmbeddings = maxPos,
            OriginalMaxPositionEmbeddings = originalMax ?? maxPos,
            RmsNormEps = j.Number("rms_norm_eps", 1e-5, ConfigLimits.IsEpsilon, ConfigLimits.EpsilonRange),
            RopeTheta = theta,
            PartialRotaryFactor = partial,
            RopeScaling = scaling,
            BosTokenId = j.OptionalInt("bos_token_id", 0, vocab - 1),
            EosTokenIds = eos,
            PadTokenId = j.OptionalInt("pad_token_id", 0, vocab - 1),
            TieWordEmbeddings = j.Bool("tie_word_embeddings", false),
            AttentionBias = j.Bool("attention_bias", false),
            SlidingWindow = j.OptionalInt("sliding_window", 1, ConfigLimits.MaxPositions),
        };
    }

    /// <summary>
    /// Settings this library cannot run, as one-line problems (sizes and ranges are checked by <see cref="From"/>).
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                p.Add($"{SourcePath}: {problem}");
            }
        }
        Check(HiddenAct == "silu", $"field 'hidden_act': {InputText.Quote(HiddenAct)} is not supported (silu)");
        Check(!AttentionBias, "field 'attention_bias': true is not supported");
        return p;
    }
}
