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
    /// Reads the config. LongRoPE may be given as <c>rope_scaling</c> (older transformers) or
    /// <c>rope_parameters</c> (newer), with <c>rope_theta</c> and <c>original_max_position_embeddings</c> either at
    /// the top level or inside that object.
    /// </summary>
    public static Phi3Config From(ConfigJson j)
    {
        int hidden = j.Int("hidden_size");
        int heads = j.Int("num_attention_heads");
        if (heads <= 0)
        {
            throw j.Invalid("num_attention_heads", $"{heads} must be positive");
        }
        int? headDim = j.OptionalInt("head_dim");
        if (headDim is null && hidden % heads != 0)
        {
            throw j.Invalid("hidden_size", $"{hidden} is not divisible by num_attention_heads {heads}");
        }
        ConfigJson? rope = j.Object("rope_scaling");
        string ropeField = "rope_scaling";
        if (rope is null)
        {
            rope = j.Object("rope_parameters");
            ropeField = "rope_parameters";
        }
        double theta = j.OptionalDouble("rope_theta") ?? rope?.OptionalDouble("rope_theta") ?? 10000.0;
        double partial = j.OptionalDouble("partial_rotary_factor") ?? rope?.OptionalDouble("partial_rotary_factor") ?? 1.0;
        int maxPos = j.Int("max_position_embeddings");
        int? originalMax = j.OptionalInt("original_max_position_embeddings") ??
                           rope?.OptionalInt("original_max_position_embeddings");
        LongRopeScaling? scaling = null;
        if (rope is not null)
        {
            string type = rope.OptionalString("rope_type") ?? rope.OptionalString("type") ?? "default";
            if (type is "longrope" or "su")
            {
                scaling = new LongRopeScaling(type, rope.DoubleArray("short_factor"), rope.DoubleArray("long_factor"),
                    rope.OptionalDouble("attention_factor"));
                if (originalMax is null)
                {
                    throw j.Invalid("original_max_position_embeddings",
                        "required for LongRoPE (top level or inside " + ropeField + ")");
                }
            }
            else if (type != "default")
            {
                throw j.Invalid(ropeField, $"RoPE type '{type}' is not supported (longrope, su or default)");
            }
        }
        return new Phi3Config
        {
            SourcePath = j.FilePath,
            VocabSize = j.Int("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = j.Int("intermediate_size"),
            NumHiddenLayers = j.Int("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = j.Int("num_key_value_heads", heads),
            HeadDim = headDim ?? hidden / heads,
            HiddenAct = j.String("hidden_act", "silu"),
            MaxPositionEmbeddings = maxPos,
            OriginalMaxPositionEmbeddings = originalMax ?? maxPos,
            RmsNormEps = j.Double("rms_norm_eps", 1e-5),
            RopeTheta = theta,
            PartialRotaryFactor = partial,
            RopeScaling = scaling,
            BosTokenId = j.OptionalInt("bos_token_id"),
            EosTokenIds = j.IntOrIntArray("eos_token_id"),
            PadTokenId = j.OptionalInt("pad_token_id"),
            TieWordEmbeddings = j.Bool("tie_word_embeddings", false),
            AttentionBias = j.Bool("attention_bias", false),
            SlidingWindow = j.OptionalInt("sliding_window"),
        };
    }

    /// <summary>Settings this library cannot run, as one-line problems.</summary>
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
        Check(VocabSize > 0 && HiddenSize > 0 && IntermediateSize > 0 && NumHiddenLayers > 0 && HeadDim > 0,
            "sizes must be positive");
        Check(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0,
            $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        Check(HiddenAct == "silu", $"hidden_act '{HiddenAct}' is not supported (silu)");
        Check(!AttentionBias, "attention_bias true is not supported");
        Check(RotaryDim % 2 == 0 && RotaryDim <= HeadDim, $"rotary dim {RotaryDim} must be even and ≤ head_dim");
        if (RopeScaling is { } s)
        {
            Check(s.ShortFactor.Length == RotaryDim / 2,
                $"rope short_factor has {s.ShortFactor.Length} values, expected rotary dim / 2 = {RotaryDim / 2}");
            Check(s.LongFactor.Length == RotaryDim / 2,
                $"rope long_factor has {s.LongFactor.Length} values, expected rotary dim / 2 = {RotaryDim / 2}");
            Check(s.ShortFactor.Concat(s.LongFactor).All(f => f > 0 && double.IsFinite(f)),
                "rope factors must be positive");
            Check(OriginalMaxPositionEmbeddings > 0, "original_max_position_embeddings must be positive");
        }
        return p;
    }
}
