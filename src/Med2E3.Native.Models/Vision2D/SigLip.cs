using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Vision2D;

/// <summary>
/// The SigLIP vision tower (spec §4): Conv2d patch embedding (kernel = stride = P, with bias), learned position
/// embeddings, pre-LN encoder layers (LayerNorm eps from the config, 1e-6; tanh-approximate GELU). Med-2E3 takes
/// <c>hidden_states[-1]</c>, the output of the last layer BEFORE <c>post_layernorm</c> (spec §4.2 step 4), so the
/// post-LayerNorm and the attention-pooling head are not loaded. Keys: <c>vision2d_model</c> without the
/// <c>vision_model.</c> prefix.
/// </summary>
public sealed class SigLip
{
    private SigLip(SiglipVisionConfig config, SigLipEmbeddings embeddings, SigLipEncoderLayer[] layers)
    {
        Config = config;
        Embeddings = embeddings;
        Layers = layers;
    }

    public SiglipVisionConfig Config { get; }

    /// <summary><c>embeddings.*</c>.</summary>
    public SigLipEmbeddings Embeddings { get; }

    /// <summary><c>encoder.layers.{i}.*</c>.</summary>
    public SigLipEncoderLayer[] Layers { get; }

    /// <summary>
    /// Recompute each encoder layer during backward instead of keeping its activations (training only; the result is
    /// identical).
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    public static SigLip Load(WeightLoader w, SiglipVisionConfig config)
    {
        if (config.HiddenAct != "gelu_pytorch_tanh")
        {
            throw new NotSupportedException(
                $"{config.SourcePath}: hidden_act '{config.HiddenAct}' is not supported (SigLIP uses gelu_pytorch_tanh)");
        }
        var embeddings = SigLipEmbeddings.Load(w.Sub("embeddings."), config);
        var layers = new SigLipEncoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = SigLipEncoderLayer.Load(w.Sub($"encoder.layers.{i}."), config);
        }
        return new SigLip(config, embeddings, layers);
    }

    /// <summary>
    /// Images (N, Cin, Hi, W) with raw values (Med-2E3 feeds [0,1] slices, no normalisation, spec §1.3) → features
    /// (N, T, C), T = (Hi/P)·(W/P) in row-major patch order. Cin may be 1 (a slice): it is broadcast to the
    /// checkpoint's channel count, which is exactly the reference's 3-channel replication.
    /// </summary>
    public Tensor Forward(Tensor images)
    {
        using var scope = TensorScope.Begin();
        var x = Embeddings.Forward(images);                                  // (N, T, C)
        foreach (var layer in Layers)
        {
            x = GradientCheckpointing && NoGradScope.IsGradEnabled
                ? F.Checkpoint(a => layer.Forward(a[0]), x)                  // (N, T, C)
                : layer.Forward(x);                                          // (N, T, C)
        }
        return scope.Keep(x);                                                // (N, T, C), before post_layernorm
    }
}

/// <summary>SigLIP embeddings: <c>patch_embedding</c> Conv2d(Cin→C, k = s = P) + <c>position_embedding</c> (T, C).</summary>
public sealed class SigLipEmbeddings
{
    private SigLipEmbeddings(Tensor patchWeight, Tensor patchBias, Tensor positionEmbedding)
    {
        PatchEmbeddingWeight = patchWeight;
        PatchEmbeddingBias = patchBias;
        PositionEmbeddingWeight = positionEmbedding;
    }

    /// <summary><c>patch_embedding.weight</c> (C, Cin, P, P).</summary>
    public Tensor PatchEmbeddingWeight { get; }

    /// <summary><c>patch_embedding.bias</c> (C).</summary>
    public Tensor PatchEmbeddingBias { get; }

    /// <summary><c>position_embedding.weight</c> (T, C).</summary>
    public Tensor PositionEmbeddingWeight { get; }

    public static SigLipEmbeddings Load(WeightLoader w, SiglipVisionConfig config)
    {
        int c = config.HiddenSize, p = config.PatchSize;
        return new SigLipEmbeddings(
            w.Take("patch_embedding.weight", c, config.NumChannels, p, p),
            w.Take("patch_embedding.bias", c),
            w.Take("position_embedding.weight", config.NumPatches, c));
    }

    /// <summary>(N, Cin, Hi, W) → (N, T, C).</summary>
    public Tensor Forward(Tensor images)
    {
        using var scope = TensorScope.Begin();
        int n = images.Dim(0), cin = PatchEmbeddingWeight.Dim(1);
        var x = images.Dim(1) == cin
            ? images.Alias()                                                   // (N, Cin, Hi, W)
            : images.Expand(n, cin, images.Dim(2), images.Dim(3));             // (N, Cin, Hi, W), channels replicated
        var grid = F.Conv2dPatch(x, PatchEmbeddingWeight, PatchEmbeddingBias);  // (N, C, Hi/P, W/P)
        var tokens = grid.Flatten(2).Transpose(1, 2);                          // (N, T, C), t = row·(W/P) + col
        if (tokens.Dim(1) != PositionEmbeddingWeight.Dim(0))
        {
            throw new ShapeMismatchException("SigLip.Embeddings", tokens.ShapeSpan, PositionEmbeddingWeight.ShapeSpan,
                1, "the image gives another patch count than the position table (no interpolation is done)");
        }
        return scope.Keep(F.Add(tokens, PositionEmbeddingWeight));             // (N, T, C)
    }
}

/// <summary>
/// One SigLIP encoder layer (spec §4.2 step 3): x = x + out_proj(MHA(LN₁(x))) with separate q/k/v projections
/// (bias), scale Dh^−½; x = x + fc2(gelu_tanh(fc1(LN₂(x)))).
/// </summary>
public sealed class SigLipEncoderLayer
{
    private SigLipEncoderLayer(int heads, LayerNorm layerNorm1, Linear qProj, Linear kProj, Linear vProj,
        Linear outProj, LayerNorm layerNorm2, Linear fc1, Linear fc2)
    {
        Heads = heads;
        LayerNorm1 = layerNorm1;
        QProj = qProj;
        KProj = kProj;
        VProj = vProj;
        OutProj = outProj;
        LayerNorm2 = layerNorm2;
        Fc1 = fc1;
        Fc2 = fc2;
    }

    public int Heads { get; }

    /// <summary><c>layer_norm1</c>.</summary>
    public LayerNorm LayerNorm1 { get; }

    /// <summary><c>self_attn.q_proj</c>.</summary>
    public Linear QProj { get; }

    /// <summary><c>self_attn.k_proj</c>.</summary>
    public Linear KProj { get; }

    /// <summary><c>self_attn.v_proj</c>.</summary>
    public Linear VProj { get; }

    /// <summary><c>self_attn.out_proj</c>.</summary>
    public Linear OutProj { get; }

    /// <summary><c>layer_norm2</c>.</summary>
    public LayerNorm LayerNorm2 { get; }

    /// <summary><c>mlp.fc1</c>.</summary>
    public Linear Fc1 { get; }

    /// <summary><c>mlp.fc2</c>.</summary>
    public Linear Fc2 { get; }

    public static SigLipEncoderLayer Load(WeightLoader w, SiglipVisionConfig config)
    {
        int c = config.HiddenSize, f = config.IntermediateSize;
        double eps = config.LayerNormEps;
        return new SigLipEncoderLayer(config.NumAttentionHeads,
            LayerNorm.Load(w, "layer_norm1", c, eps),
            Linear.Load(w, "self_attn.q_proj", c, c),
            Linear.Load(w, "self_attn.k_proj", c, c),
            Linear.Load(w, "self_attn.v_proj", c, c),
            Linear.Load(w, "self_attn.out_proj", c, c),
            LayerNorm.Load(w, "layer_norm2", c, eps),
            Linear.Load(w, "mlp.fc1", c, f),
            Linear.Load(w, "mlp.fc2", f, c));
    }

    /// <summary>(N, T, C) → (N, T, C).</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = TensorScope.Begin();
        int dh = x.Dim(2) / Heads;
        var h = LayerNorm1.Forward(x);                                               // (N, T, C)
        var q = AttentionHeads.Split(QProj.Forward(h), Heads, dh);                  // (N, H, T, Dh)
        var k = AttentionHeads.Split(KProj.Forward(h), Heads, dh);                  // (N, H, T, Dh)
        var v = AttentionHeads.Split(VProj.Forward(h), Heads, dh);                  // (N, H, T, Dh)
        var o = F.Attention(q, k, v);                                                // (N, H, T, Dh), no mask
        var merged = AttentionHeads.Merge(o);                                        // (N, T, C)
        x = F.Add(x, OutProj.Forward(merged));                                       // (N, T, C)
        var m = Fc1.Forward(LayerNorm2.Forward(x));                                  // (N, T, F)
        x = F.Add(x, Fc2.Forward(F.GeluTanh(m)));                                    // (N, T, C)
        return scope.Keep(x);
    }
}
