using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Decoder;

/// <summary>
/// Phi-3 (transformers <c>Phi3ForCausalLM</c>, spec §6): token embedding, decoder layers with RMSNorm, fused
/// [Q;K;V] projection, LongRoPE, causal attention over the whole sequence (visual tokens included), fused
/// gate/up MLP with SiLU, final RMSNorm and an untied <c>lm_head</c>. Keys: <c>llm/</c>.
/// </summary>
public sealed class Phi3
{
    private Phi3(Phi3Config config, Tensor embedTokens, Phi3DecoderLayer[] layers, RmsNorm norm, Linear lmHead)
    {
        Config = config;
        EmbedTokens = embedTokens;
        Layers = layers;
        Norm = norm;
        LmHead = lmHead;
    }

    public Phi3Config Config { get; }

    /// <summary><c>model.embed_tokens.weight</c> (V, C).</summary>
    public Tensor EmbedTokens { get; }

    /// <summary><c>model.layers.{i}.*</c>.</summary>
    public Phi3DecoderLayer[] Layers { get; }

    /// <summary><c>model.norm</c>.</summary>
    public RmsNorm Norm { get; }

    /// <summary><c>lm_head</c> (untied, no bias).</summary>
    public Linear LmHead { get; }

    /// <summary>Recompute each decoder layer during backward instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }

    public static Phi3 Load(WeightLoader w, Phi3Config config)
    {
        if (config.HiddenAct != "silu")
        {
            throw new NotSupportedException($"{config.SourcePath}: hidden_act '{config.HiddenAct}' is not supported (Phi-3 uses silu)");
        }
        if (config.AttentionBias)
        {
            throw new NotSupportedException($"{config.SourcePath}: attention_bias true is not supported (Phi-3 has no biases)");
        }
        if (config.TieWordEmbeddings)
        {
            throw new NotSupportedException($"{config.SourcePath}: tie_word_embeddings true is not supported (Phi-3's lm_head is untied)");
        }
        int c = config.HiddenSize;
        var embed = w.Take("model.embed_tokens.weight", config.VocabSize, c);
        var layers = new Phi3DecoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = Phi3DecoderLayer.Load(w.Sub($"model.layers.{i}."), config);
        }
        var norm = RmsNorm.Load(w, "model.norm", c, config.RmsNormEps);
        var lmHead = Linear.Load(w, "lm_head", c, config.VocabSize, bias: false);
        return new Phi3(config, embed, layers, norm, lmHead);
    }

    /// <summary>Token embeddings: ids (…) → (…, C).</summary>
    public Tensor Embed(Tensor ids) => F.Embedding(EmbedTokens, ids); // (…, C)

    /// <summary>
    /// Runs the decoder stack on inputs_embeds (B, T, C) at positions start … start + T − 1, where start is the
    /// number of positions already in <paramref name="cache"/> (0 without a cache), and returns the final-normed
    /// hidden states (B, T, C). With a cache, keys and values are appended to it.
    /// </summary>
    public Tensor ForwardHidden(Tensor inputsEmbeds, KvCache? cache = null)
    {
        using var scope = TensorScope.Begin();
        int t = inputsEmbeds.Dim(1);
        int start = cache?.Length ?? 0;
        var (cos, sin) = RopeTables(start, t, inputsEmbeds.DType, inputsEmbeds.Device);    // (T, Dr) each
        var x = inputsEmbeds.Alias();                                                        // (B, T, C)
        for (int i = 0; i < Layers.Length; i++)
        {
            var layer = Layers[i];
            int index = i;
            x = GradientCheckpointing && cache is null && NoGradScope.IsGradEnabled
                ? F.Checkpoint(a => layer.Forward(a[0], a[1], a[2], null, index), x, cos, sin) // (B, T, C), cos/sin saved
                : layer.Forward(x, cos, sin, cache, index);                                  // (B, T, C)
        }
        return scope.Keep(Norm.Forward(x));                                                  // (B, T, C)
    }

    /// <summary>Logits of every position: inputs_embeds (B, T, C) → (B, T, V) (training and the golden check).</summary>
    public Tensor Forward(Tensor inputsEmbeds, KvCache? cache = null)
    {
        using var scope = TensorScope.Begin();
        var h = ForwardHidden(inputsEmbeds, cache);                                          // (B, T, C)
        return scope.Keep(LmHead.Forward(h));                                                // (B, T, V)
    }

    /// <summary>
    /// Prefill: runs the prompt embeddings (B, T, C) into an empty <paramref name="cache"/> and returns the logits
    /// of the last position (B, V) — only that row goes through lm_head.
    /// </summary>
    public Tensor Prefill(Tensor inputsEmbeds, KvCache cache)
    {
        using var scope = TensorScope.Begin();
        var h = ForwardHidden(inputsEmbeds, cache);                                          // (B, T, C)
        var last = h.Select(1, h.Dim(1) - 1);                                                // (B, C)
        return scope.Keep(LmHead.Forward(last));                                             // (B, V)
    }

    /// <summary>One decode step: token ids (B) at the next position → logits (B, V); the cache grows by one.</summary>
    public Tensor DecodeStep(Tensor tokenIds, KvCache cache)
    {
        using var scope = TensorScope.Begin();
        var e = Embed(tokenIds.Reshape(tokenIds.Dim(0), 1));                                 // (B, 1, C)
        var h = ForwardHidden(e, cache);                                                     // (B, 1, C)
        return scope.Keep(LmHead.Forward(h.Select(1, 0)));                                   // (B, V)
    }

    /// <summary>A KV cache sized for <paramref name="capacity"/> positions.</summary>
    public KvCache CreateCache(int batch, int capacity, DType dtype, Device device) =>
        new(Layers.Length, batch, Config.NumKeyValueHeads, capacity, Config.HeadDim, dtype, device);

    /// <summary>
    /// LongRoPE cos/sin (spec §6.3) for positions start … start + T − 1. As in transformers, the factor set is
    /// chosen by the sequence length this call reaches (max position + 1): short_factor up to
    /// original_max_position_embeddings, long_factor beyond; cos and sin carry the attention factor
    /// √(1 + ln(max/orig)/ln(orig)). Angles are computed in f32 like the reference.
    /// </summary>
    public (Tensor Cos, Tensor Sin) RopeTables(int start, int length, DType dtype, Device device)
    {
        double[]? factors = null;
        if (Config.RopeScaling is { } rs)
        {
            factors = Ops.Ops.Rope.SelectFactors(start + length, Config.OriginalMaxPositionEmbeddings, rs.ShortFactor, rs.LongFactor);
        }
        return F.RopeTables(start, length, Config.RotaryDim, Config.RopeTheta, factors, Config.RopeAttentionFactor,
            dtype, device);                                                                  // (T, Dr) each
    }
}

/// <summary>
/// One Phi-3 decoder layer (spec §6.2 step 2):
/// h = RMSNorm(x); [q;k;v] = h·W_qkvᵀ; q, k ← RoPE; o = causal softmax(q·kᵀ/√Dh)·v; x = x + o_proj(o);
/// h = RMSNorm(x); [gate;up] = h·W_guᵀ; x = x + down_proj(up ⊙ silu(gate)).
/// </summary>
public sealed class Phi3DecoderLayer
{
    private Phi3DecoderLayer(Phi3Config config, RmsNorm inputLayernorm, Linear qkvProj, Linear oProj,
        RmsNorm postAttentionLayernorm, Linear gateUpProj, Linear downProj)
    {
        Config = config;
        InputLayernorm = inputLayernorm;
        QkvProj = qkvProj;
        OProj = oProj;
        PostAttentionLayernorm = postAttentionLayernorm;
        GateUpProj = gateUpProj;
        DownProj = downProj;
    }

    public Phi3Config Config { get; }

    /// <summary><c>input_layernorm</c>.</summary>
    public RmsNorm InputLayernorm { get; }

    /// <summary><c>self_attn.qkv_proj</c>: rows [Q (H·Dh); K (Hkv·Dh); V (Hkv·Dh)].</summary>
    public Linear QkvProj { get; }

    /// <summary><c>self_attn.o_proj</c>.</summary>
    public Linear OProj { get; }

    /// <summary><c>post_attention_layernorm</c>.</summary>
    public RmsNorm PostAttentionLayernorm { get; }

    /// <summary><c>mlp.gate_up_proj</c>: rows [gate (F); up (F)].</summary>
    public Linear GateUpProj { get; }

    /// <summary><c>mlp.down_proj</c>.</summary>
    public Linear DownProj { get; }

    public static Phi3DecoderLayer Load(WeightLoader w, Phi3Config config)
    {
        int c = config.HiddenSize, f = config.IntermediateSize, heads = config.NumAttentionHeads * config.HeadDim;
        double eps = config.RmsNormEps;
        return new Phi3DecoderLayer(config,
            RmsNorm.Load(w, "input_layernorm", c, eps),
            Linear.Load(w, "self_attn.qkv_proj", c, config.QkvRows, bias: false),
            Linear.Load(w, "self_attn.o_proj", heads, c, bias: false),
            RmsNorm.Load(w, "post_attention_layernorm", c, eps),
            Linear.Load(w, "mlp.gate_up_proj", c, 2 * f, bias: false),
            Linear.Load(w, "mlp.down_proj", f, c, bias: false));
    }

    /// <summary>(B, T, C) at the positions of cos/sin (T, Dr) → (B, T, C); appends k, v to the cache if given.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, KvCache? cache, int layerIndex)
    {
        using var scope = TensorScope.Begin();
        int h = Config.NumAttentionHeads, hkv = Config.NumKeyValueHeads, dh = Config.HeadDim;
        var n = InputLayernorm.Forward(x);                                                   // (B, T, C)
        var qkv = QkvProj.Forward(n);                                                        // (B, T, (H + 2Hkv)·Dh)
        var q = AttentionHeads.Split(qkv.Narrow(2, 0, h * dh), h, dh);                      // (B, H, T, Dh)
        var k = AttentionHeads.Split(qkv.Narrow(2, h * dh, hkv * dh), hkv, dh);             // (B, Hkv, T, Dh)
        var v = AttentionHeads.Split(qkv.Narrow(2, (h + hkv) * dh, hkv * dh), hkv, dh);     // (B, Hkv, T, Dh)
        q = ApplyRope(q, cos, sin);                                                          // (B, H, T, Dh)
        k = ApplyRope(k, cos, sin);                                                          // (B, Hkv, T, Dh)
        if (cache is not null)
        {
            (k, v) = cache.Append(layerIndex, k, v);                                         // (B, Hkv, T', Dh)
        }
        if (hkv != h)
        {
            k = F.RepeatInterleave(k, h / hkv, 1);                                           // (B, H, T', Dh)
            v = F.RepeatInterleave(v, h / hkv, 1);                                           // (B, H, T', Dh)
        }
        // Causal: query i (absolute position start + i) sees keys 0 … start + i; F.Attention aligns the last query
        // with the last key, which is exactly that with a cache (spec §6.2: visual tokens attend causally too).
        var o = F.Attention(q, k, v, causal: true);                                          // (B, H, T, Dh), 1/√Dh
        var merged = AttentionHeads.Merge(o);                                                // (B, T, H·Dh)
        x = F.Add(x, OProj.Forward(merged));                                                 // (B, T, C)
        var gu = GateUpProj.Forward(PostAttentionLayernorm.Forward(x));                      // (B, T, 2F), gate first
        var a = F.GatedSilu(gu);                                                             // (B, T, F) = up ⊙ silu(gate)
        x = F.Add(x, DownProj.Forward(a));                                                   // (B, T, C)
        return scope.Keep(x);
    }

    /// <summary>RoPE on the first Dr features of each head (Dr = Dh unless partial_rotary_factor &lt; 1).</summary>
    private static Tensor ApplyRope(Tensor x, Tensor cos, Tensor sin)
    {
        int dh = x.Dim(-1), dr = cos.Dim(1);
        if (dr == dh) return F.Rope(x, cos, sin);                                            // (B, H, T, Dh)
        using var scope = TensorScope.Begin();
        var rotated = F.Rope(x.Narrow(-1, 0, dr), cos, sin);                                 // (B, H, T, Dr)
        return scope.Keep(F.Concat(3, rotated, x.Narrow(-1, dr, dh - dr)));                 // (B, H, T, Dh)
    }
}
