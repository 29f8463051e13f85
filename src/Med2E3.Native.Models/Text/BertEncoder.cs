using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Text;

/// <summary>
/// The M3D-CLIP language encoder, a BERT (spec §3): post-LN layers (LayerNorm eps from the config, 1e-12), exact
/// GELU, and the pooler tanh(dense(x[:, 0])), whose output is the TG-IS text vector. Keys:
/// <c>language_encoder.*</c> of <c>vision3d_model</c>.
/// <para>Exactness shortcut (spec §3.2): the reference pads the question to 512 tokens and masks the padding with
/// the dtype minimum, so padded keys get exactly zero attention. Running only the real tokens gives the same [CLS]
/// output up to summation order, at a fraction of the cost; <see cref="Forward"/> does that per sequence.</para>
/// </summary>
public sealed class BertEncoder
{
    private BertEncoder(BertConfig config, BertEmbeddings embeddings, BertLayer[] layers, Linear poolerDense)
    {
        Config = config;
        Embeddings = embeddings;
        Layers = layers;
        PoolerDense = poolerDense;
    }

    public BertConfig Config { get; }

    /// <summary><c>embeddings.*</c>.</summary>
    public BertEmbeddings Embeddings { get; }

    /// <summary><c>encoder.layer.{i}.*</c>.</summary>
    public BertLayer[] Layers { get; }

    /// <summary><c>pooler.dense</c>.</summary>
    public Linear PoolerDense { get; }

    /// <summary>Loads the encoder from a loader positioned at <c>language_encoder.</c>.</summary>
    public static BertEncoder Load(WeightLoader w, BertConfig config)
    {
        if (config.HiddenAct != "gelu")
        {
            throw new NotSupportedException($"{config.SourcePath}: BERT hidden_act '{config.HiddenAct}' is not supported");
        }
        var embeddings = BertEmbeddings.Load(w.Sub("embeddings."), config);
        var layers = new BertLayer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = BertLayer.Load(w.Sub($"encoder.layer.{i}."), config);
        }
        var pooler = Linear.Load(w, "pooler.dense", config.HiddenSize, config.HiddenSize);
        return new BertEncoder(config, embeddings, layers, pooler);
    }

    /// <summary>
    /// Question ids (B, L) and attention mask (B, L) (1 = real token, right padding) → pooler output (B, C).
    /// Each sequence runs on its Σ mask real tokens only. <paramref name="dropout"/> (training mode, spec §3.2) draws
    /// its masks sequence by sequence, for the real tokens only; null = evaluation.
    /// </summary>
    public Tensor Forward(long[] ids, long[] mask, int batch, Device device, Dropout? dropout = null)
    {
        using var scope = TensorScope.Begin();
        int l = ids.Length / batch;
        var pooled = new Tensor[batch];
        for (int b = 0; b < batch; b++)
        {
            int real = RealLength(mask.AsSpan(b * l, l));
            var tokenIds = ids.AsSpan(b * l, real).ToArray();
            using var idsCpu = Tensor.FromArray(tokenIds, 1, real);                 // (1, L')
            var idsDev = idsCpu.To(device);                                         // (1, L')
            pooled[b] = ForwardUnpadded(idsDev, dropout);                                  // (1, C)
        }
        return scope.Keep(batch == 1 ? pooled[0].Alias() : F.Concat(0, pooled));   // (B, C)
    }

    /// <summary>
    /// Ids (1, L') of real tokens only → pooler output (1, C). With <paramref name="dropout"/>, hidden dropout follows
    /// the embeddings LayerNorm and each layer drops as <see cref="BertLayer.Forward"/>; the pooler has none.
    /// </summary>
    public Tensor ForwardUnpadded(Tensor ids, Dropout? dropout = null)
    {
        using var scope = TensorScope.Begin();
        var x = Embeddings.Forward(ids);                                            // (1, L', C)
        if (dropout is not null) x = dropout.Apply(x);                              // (1, L', C), hidden dropout
        foreach (var layer in Layers)
        {
            x = layer.Forward(x, dropout);                                          // (1, L', C)
        }
        var cls = x.Select(1, 0);                                                   // (1, C)
        return scope.Keep(F.Tanh(PoolerDense.Forward(cls)));                        // (1, C)
    }

    /// <summary>Number of leading 1s of a right-padded mask; a 1 after a 0 (left padding or holes) is an error.</summary>
    private static int RealLength(ReadOnlySpan<long> mask)
    {
        int n = 0;
        while (n < mask.Length && mask[n] != 0) n++;
        for (int i = n; i < mask.Length; i++)
        {
            if (mask[i] != 0)
            {
                throw new ArgumentException("BertEncoder.cs: the question mask must be 1s followed by 0s (right padding)");
            }
        }
        if (n == 0) throw new ArgumentException("BertEncoder.cs: the question mask has no real token");
        return n;
    }
}

/// <summary>
/// BERT embeddings (spec §3.2 step 1): word_embeddings[ids] + position_embeddings[0..L−1] + token_type_embeddings[0],
/// then LayerNorm.
/// </summary>
public sealed class BertEmbeddings
{
    private BertEmbeddings(Tensor word, Tensor position, Tensor tokenType, LayerNorm layerNorm)
    {
        WordEmbeddings = word;
        PositionEmbeddings = position;
        TokenTypeEmbeddings = tokenType;
        LayerNorm = layerNorm;
    }

    /// <summary><c>word_embeddings.weight</c> (V, C).</summary>
    public Tensor WordEmbeddings { get; }

    /// <summary><c>position_embeddings.weight</c> (Tmax, C).</summary>
    public Tensor PositionEmbeddings { get; }

    /// <summary><c>token_type_embeddings.weight</c> (2, C).</summary>
    public Tensor TokenTypeEmbeddings { get; }

    /// <summary><c>LayerNorm</c>.</summary>
    public LayerNorm LayerNorm { get; }

    public static BertEmbeddings Load(WeightLoader w, BertConfig config)
    {
        int c = config.HiddenSize;
        return new BertEmbeddings(
            w.Take("word_embeddings.weight", config.VocabSize, c),
            w.Take("position_embeddings.weight", config.MaxPositionEmbeddings, c),
            w.Take("token_type_embeddings.weight", config.TypeVocabSize, c),
            LayerNorm.Load(w, "LayerNorm", c, config.LayerNormEps));
    }

    /// <summary>Ids (B, L) → (B, L, C).</summary>
    public Tensor Forward(Tensor ids)
    {
        using var scope = TensorScope.Begin();
        int l = ids.Dim(1);
        if (l > PositionEmbeddings.Dim(0))
        {
            throw new ArgumentException(
                $"BertEncoder.cs: {l} question tokens exceed the position table ({PositionEmbeddings.Dim(0)})");
        }
        var e = F.Embedding(WordEmbeddings, ids);                                   // (B, L, C)
        e = F.Add(e, PositionEmbeddings.Narrow(0, 0, l));                           // (B, L, C), positions 0..L−1
        e = F.Add(e, TokenTypeEmbeddings.Narrow(0, 0, 1));                          // (B, L, C), token type 0
        return scope.Keep(LayerNorm.Forward(e));                                    // (B, L, C)
    }
}

/// <summary>
/// One post-LN BERT layer (spec §3.2 step 3): x = LN(x + dense(MHA(x))); x = LN(x + out(GELU(intermediate(x)))).
/// </summary>
public sealed class BertLayer
{
    private BertLayer(int heads, Linear query, Linear key, Linear value, Linear attentionOutputDense,
        LayerNorm attentionOutputLayerNorm, Linear intermediateDense, Linear outputDense, LayerNorm outputLayerNorm)
    {
        Heads = heads;
        Query = query;
        Key = key;
        Value = value;
        AttentionOutputDense = attentionOutputDense;
        AttentionOutputLayerNorm = attentionOutputLayerNorm;
        IntermediateDense = intermediateDense;
        OutputDense = outputDense;
        OutputLayerNorm = outputLayerNorm;
    }

    public int Heads { get; }

    /// <summary><c>attention.self.query</c>.</summary>
    public Linear Query { get; }

    /// <summary><c>attention.self.key</c>.</summary>
    public Linear Key { get; }

    /// <summary><c>attention.self.value</c>.</summary>
    public Linear Value { get; }

    /// <summary><c>attention.output.dense</c>.</summary>
    public Linear AttentionOutputDense { get; }

    /// <summary><c>attention.output.LayerNorm</c>.</summary>
    public LayerNorm AttentionOutputLayerNorm { get; }

    /// <summary><c>intermediate.dense</c>.</summary>
    public Linear IntermediateDense { get; }

    /// <summary><c>output.dense</c>.</summary>
    public Linear OutputDense { get; }

    /// <summary><c>output.LayerNorm</c>.</summary>
    public LayerNorm OutputLayerNorm { get; }

    public static BertLayer Load(WeightLoader w, BertConfig config)
    {
        int c = config.HiddenSize, f = config.IntermediateSize;
        double eps = config.LayerNormEps;
        return new BertLayer(config.NumAttentionHeads,
            Linear.Load(w, "attention.self.query", c, c),
            Linear.Load(w, "attention.self.key", c, c),
            Linear.Load(w, "attention.self.value", c, c),
            Linear.Load(w, "attention.output.dense", c, c),
            LayerNorm.Load(w, "attention.output.LayerNorm", c, eps),
            Linear.Load(w, "intermediate.dense", c, f),
            Linear.Load(w, "output.dense", f, c),
            LayerNorm.Load(w, "output.LayerNorm", c, eps));
    }

    /// <summary>
    /// (B, L, C) → (B, L, C). With <paramref name="dropout"/> (training mode, as HF BertLayer): dropout on the attention
    /// probabilities, and on the attention-output and output dense results before their residual add + LayerNorm.
    /// The fused <see cref="F.Attention"/> never materialises the probabilities, so with dropout the attention runs
    /// unfused (MatMul, Softmax, mask, MatMul); without it the fused op runs, as at evaluation.
    /// </summary>
    public Tensor Forward(Tensor x, Dropout? dropout = null)
    {
        using var scope = TensorScope.Begin();
        int dh = x.Dim(2) / Heads;
        var q = AttentionHeads.Split(Query.Forward(x), Heads, dh);                  // (B, H, L, Dh)
        var k = AttentionHeads.Split(Key.Forward(x), Heads, dh);                    // (B, H, L, Dh)
        var v = AttentionHeads.Split(Value.Forward(x), Heads, dh);                  // (B, H, L, Dh)
        Tensor o;
        if (dropout is null)
        {
            o = F.Attention(q, k, v);                                               // (B, H, L, Dh), scale Dh^−½
        }
        else
        {
            var logits = F.Scale(F.MatMul(q, k.Transpose(2, 3)), 1.0 / Math.Sqrt(dh));   // (B, H, L, L)
            var probs = dropout.Apply(F.Softmax(logits));                           // (B, H, L, L), attention dropout
            o = F.MatMul(probs, v);                                                 // (B, H, L, Dh)
        }
        var merged = AttentionHeads.Merge(o);                                       // (B, L, C)
        var a = AttentionOutputDense.Forward(merged);                               // (B, L, C)
        if (dropout is not null) a = dropout.Apply(a);                              // (B, L, C), hidden dropout
        x = AttentionOutputLayerNorm.Forward(F.Add(x, a));                          // (B, L, C)
        var m = OutputDense.Forward(F.Gelu(IntermediateDense.Forward(x)));          // (B, L, C)
        if (dropout is not null) m = dropout.Apply(m);                              // (B, L, C), hidden dropout
        x = OutputLayerNorm.Forward(F.Add(x, m));                                   // (B, L, C)
        return scope.Keep(x);
    }
}
