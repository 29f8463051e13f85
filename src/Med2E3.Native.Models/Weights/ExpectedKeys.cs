using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Models.Weights;

/// <summary>Whether the network reads a tensor.</summary>
public enum TensorRole
{
    /// <summary>Read by the network; missing is an error.</summary>
    Used,

    /// <summary>Saved in the checkpoint but ignored by the network (may be absent).</summary>
    KnownUnused,
}

/// <summary>A key the configs predict, with its shape.</summary>
public sealed record ExpectedTensor(string Key, int[] Shape, TensorRole Role)
{
    public string ShapeString => WeightTensor.FormatShape(Shape);
}

/// <summary>
/// Expected keys and shapes of each checkpoint component, computed from the configs (never from fixed sizes).
/// Keys are as the network names them; a checkpoint whose keys all carry an extra leading prefix (SigLIP's
/// <c>vision_model.</c>, a wrapper's <c>module.</c>) is matched after removing it.
/// </summary>
public static class ExpectedKeys
{
    /// <summary><c>llm/</c>: Phi-3 (spec §6.6); only the first <paramref name="layers"/> layers when given.</summary>
    public static IReadOnlyList<ExpectedTensor> Llm(Phi3Config c, int? layers = null)
    {
        int h = c.HiddenSize;
        var list = new List<ExpectedTensor> { Used("model.embed_tokens.weight", c.VocabSize, h) };
        for (int i = 0; i < Math.Min(c.NumHiddenLayers, layers ?? int.MaxValue); i++)
        {
            string p = $"model.layers.{i}.";
            list.Add(Used(p + "input_layernorm.weight", h));
            list.Add(Used(p + "self_attn.qkv_proj.weight", c.QkvRows, h));
            list.Add(Used(p + "self_attn.o_proj.weight", h, c.NumAttentionHeads * c.HeadDim));
            list.Add(Used(p + "post_attention_layernorm.weight", h));
            list.Add(Used(p + "mlp.gate_up_proj.weight", 2 * c.IntermediateSize, h));
            list.Add(Used(p + "mlp.down_proj.weight", h, c.IntermediateSize));
        }
        list.Add(Used("model.norm.weight", h));
        // With tied embeddings transformers may still save lm_head as a copy; it is then ignored.
        list.Add(c.TieWordEmbeddings ? Unused("lm_head.weight", c.VocabSize, h) : Used("lm_head.weight", c.VocabSize, h));
        return list;
    }

    /// <summary>
    /// <c>vision2d_model/</c>: SigLIP vision tower (spec §4.3), keys without <c>vision_model.</c>; only the first
    /// <paramref name="layers"/> layers when given.
    /// </summary>
    public static IReadOnlyList<ExpectedTensor> Vision2D(SiglipVisionConfig c, int? layers = null)
    {
        int h = c.HiddenSize;
        int m = c.IntermediateSize;
        var list = new List<ExpectedTensor>
        {
            Used("embeddings.patch_embedding.weight", h, c.NumChannels, c.PatchSize, c.PatchSize),
            Used("embeddings.patch_embedding.bias", h),
            Used("embeddings.position_embedding.weight", c.NumPatches, h),
        };
        for (int i = 0; i < Math.Min(c.NumHiddenLayers, layers ?? int.MaxValue); i++)
        {
            string p = $"encoder.layers.{i}.";
            list.Add(Used(p + "layer_norm1.weight", h));
            list.Add(Used(p + "layer_norm1.bias", h));
            foreach (string proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                list.Add(Used(p + $"self_attn.{proj}.weight", h, h));
                list.Add(Used(p + $"self_attn.{proj}.bias", h));
            }
            list.Add(Used(p + "layer_norm2.weight", h));
            list.Add(Used(p + "layer_norm2.bias", h));
            list.Add(Used(p + "mlp.fc1.weight", m, h));
            list.Add(Used(p + "mlp.fc1.bias", m));
            list.Add(Used(p + "mlp.fc2.weight", h, m));
            list.Add(Used(p + "mlp.fc2.bias", h));
        }
        list.Add(Unused("post_layernorm.weight", h));
        list.Add(Unused("post_layernorm.bias", h));
        list.Add(Unused("head.probe", 1, 1, h));
        list.Add(Unused("head.attention.in_proj_weight", 3 * h, h));
        list.Add(Unused("head.attention.in_proj_bias", 3 * h));
        list.Add(Unused("head.attention.out_proj.weight", h, h));
        list.Add(Unused("head.attention.out_proj.bias", h));
        list.Add(Unused("head.layernorm.weight", h));
        list.Add(Unused("head.layernorm.bias", h));
        list.Add(Unused("head.mlp.fc1.weight", m, h));
        list.Add(Unused("head.mlp.fc1.bias", m));
        list.Add(Unused("head.mlp.fc2.weight", h, m));
        list.Add(Unused("head.mlp.fc2.bias", h));
        return list;
    }

    /// <summary><c>vision3d_model/</c>: M3D-CLIP = 3D ViT (spec §2.3) + BERT (§3.3) + unused projections.</summary>
    public static IReadOnlyList<ExpectedTensor> Vision3D(M3dClipConfig v, BertConfig b)
    {
        int h = v.HiddenSize;
        var list = new List<ExpectedTensor>(Vision3DEncoder(v));
        list.AddRange(Bert(b, BertConfig.DefaultPrefix));
        list.Add(Unused("mm_vision_proj.weight", h, h));
        list.Add(Unused("mm_vision_proj.bias", h));
        list.Add(Unused("mm_language_proj.weight", h, b.HiddenSize));
        list.Add(Unused("mm_language_proj.bias", h));
        list.Add(Unused("logit_scale"));
        return list;
    }

    /// <summary>
    /// The <c>vision_encoder.*</c> part of M3D-CLIP: the 3D ViT (spec §2.3); only the first <paramref name="layers"/>
    /// blocks when given.
    /// </summary>
    public static IReadOnlyList<ExpectedTensor> Vision3DEncoder(M3dClipConfig v, int? layers = null)
    {
        int h = v.HiddenSize;
        var list = new List<ExpectedTensor>
        {
            Used("vision_encoder.cls_token", 1, 1, h),
            Used("vision_encoder.patch_embedding.position_embeddings", 1, v.NumPatches, h),
            Used("vision_encoder.patch_embedding.patch_embeddings.1.weight", h, v.PatchVectorLength),
            Used("vision_encoder.patch_embedding.patch_embeddings.1.bias", h),
        };
        for (int i = 0; i < Math.Min(v.NumLayers, layers ?? int.MaxValue); i++)
        {
            string p = $"vision_encoder.blocks.{i}.";
            list.Add(Used(p + "norm1.weight", h));
            list.Add(Used(p + "norm1.bias", h));
            list.Add(Used(p + "attn.qkv.weight", 3 * h, h));
            list.Add(Used(p + "attn.out_proj.weight", h, h));
            list.Add(Used(p + "attn.out_proj.bias", h));
            list.Add(Used(p + "norm2.weight", h));
            list.Add(Used(p + "norm2.bias", h));
            list.Add(Used(p + "mlp.linear1.weight", v.MlpDim, h));
            list.Add(Used(p + "mlp.linear1.bias", v.MlpDim));
            list.Add(Used(p + "mlp.linear2.weight", h, v.MlpDim));
            list.Add(Used(p + "mlp.linear2.bias", h));
        }
        list.Add(Unused("vision_encoder.norm.weight", h));
        list.Add(Unused("vision_encoder.norm.bias", h));
        return list;
    }

    /// <summary>The BERT encoder with pooler (spec §3.3).</summary>
    public static IReadOnlyList<ExpectedTensor> Bert(BertConfig b, string prefix)
    {
        int h = b.HiddenSize;
        int m = b.IntermediateSize;
        var list = new List<ExpectedTensor>
        {
            Used(prefix + "embeddings.word_embeddings.weight", b.VocabSize, h),
            Used(prefix + "embeddings.position_embeddings.weight", b.MaxPositionEmbeddings, h),
            Used(prefix + "embeddings.token_type_embeddings.weight", b.TypeVocabSize, h),
            Used(prefix + "embeddings.LayerNorm.weight", h),
            Used(prefix + "embeddings.LayerNorm.bias", h),
        };
        for (int i = 0; i < b.NumHiddenLayers; i++)
        {
            string p = prefix + $"encoder.layer.{i}.";
            foreach (string qkv in new[] { "query", "key", "value" })
            {
                list.Add(Used(p + $"attention.self.{qkv}.weight", h, h));
                list.Add(Used(p + $"attention.self.{qkv}.bias", h));
            }
            list.Add(Used(p + "attention.output.dense.weight", h, h));
            list.Add(Used(p + "attention.output.dense.bias", h));
            list.Add(Used(p + "attention.output.LayerNorm.weight", h));
            list.Add(Used(p + "attention.output.LayerNorm.bias", h));
            list.Add(Used(p + "intermediate.dense.weight", m, h));
            list.Add(Used(p + "intermediate.dense.bias", m));
            list.Add(Used(p + "output.dense.weight", h, m));
            list.Add(Used(p + "output.dense.bias", h));
            list.Add(Used(p + "output.LayerNorm.weight", h));
            list.Add(Used(p + "output.LayerNorm.bias", h));
        }
        list.Add(Used(prefix + "pooler.dense.weight", h, h));
        list.Add(Used(prefix + "pooler.dense.bias", h));
        return list;
    }

    /// <summary><c>vision2d_connector/</c>: <c>mlp2x_gelu</c> (spec §5.1).</summary>
    public static IReadOnlyList<ExpectedTensor> Vision2DConnector(int inputDim, int outputDim) =>
        Mlp2x(inputDim, outputDim);

    /// <summary><c>vision3d_connector/</c>: pooling MLP and TG-IS <c>text_mlp</c> (spec §5.2).</summary>
    public static IReadOnlyList<ExpectedTensor> Vision3DConnector(int inputDim, int outputDim, int textDim)
    {
        var list = new List<ExpectedTensor>(Mlp2x(inputDim, outputDim))
        {
            Used("text_mlp.weight", outputDim, textDim),
            Used("text_mlp.bias", outputDim),
        };
        return list;
    }

    private static List<ExpectedTensor> Mlp2x(int i, int o) =>
    [
        Used("_connector.0.weight", o, i),
        Used("_connector.0.bias", o),
        Used("_connector.2.weight", o, o),
        Used("_connector.2.bias", o),
    ];

    private static ExpectedTensor Used(string key, params int[] shape) => new(key, shape, TensorRole.Used);

    private static ExpectedTensor Unused(string key, params int[] shape) => new(key, shape, TensorRole.KnownUnused);
}
