using System.Text.Json.Nodes;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// Every size of a Med-2E3 network, as its config files spell them (3D ViT, SigLIP, BERT, Phi-3), plus the LLM's
/// storage dtype and that of the other components. Head dimensions follow from hidden / heads; LongRoPE factors have head_dim / 2 entries.
/// </summary>
public sealed record Geometry(
    string Name,
    int[] ImgSize, int[] PatchSize, int V3Hidden, int V3Heads, int V3Mlp, int V3Layers,
    int V2Patch, int V2Hidden, int V2Heads, int V2Intermediate, int V2Layers,
    int BertHidden, int BertHeads, int BertLayers, int BertIntermediate, int BertPositions, int QuestionLength,
    int LlmHidden, int LlmHeads, int LlmIntermediate, int LlmLayers, int LlmVocab, int MaxPositions,
    int OriginalMaxPositions, StorageDType LlmDType, StorageDType OtherDType = StorageDType.F32)
{
    /// <summary>SigLIP image size: the slice size of the volume.</summary>
    public int V2Image => ImgSize[1];

    public int LlmHeadDim => LlmHidden / LlmHeads;

    public int Slices => ImgSize[0];

    public int[] Grid => [ImgSize[0] / PatchSize[0], ImgSize[1] / PatchSize[1], ImgSize[2] / PatchSize[2]];

    /// <summary>3D tokens after the 2×2×2 pooling.</summary>
    public int Pooled3DTokens => Grid[0] / 2 * (Grid[1] / 2) * (Grid[2] / 2);

    public int SigLipTokensPerSlice => (V2Image / V2Patch) * (V2Image / V2Patch);

    public double[] ShortFactor => Enumerable.Range(0, LlmHeadDim / 2).Select(i => 1.0 + 0.1 * i).ToArray();

    public double[] LongFactor => Enumerable.Range(0, LlmHeadDim / 2).Select(i => 1.5 + 0.7 * i).ToArray();

    public override string ToString() => Name;
}

/// <summary>
/// Writes a complete Med-2E3 checkpoint folder in the released layout (args, llm, vision2d_model, vision2d_connector,
/// vision3d_model, vision3d_connector incl. text_mlp, Phi-3 tokenizer files, BERT vocab beside it) for any
/// <see cref="Geometry"/>, with seeded random weights. Configs are the tiny fixture's files with the sizes replaced,
/// so every key is spelled as there. The LLM is stored in <see cref="Geometry.LlmDType"/>, the rest in
/// <see cref="Geometry.OtherDType"/>.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>Writes <c>&lt;root&gt;/checkpoint</c> and <c>&lt;root&gt;/text_tokenizer/vocab.txt</c>; returns the checkpoint path.</summary>
    public static string Write(string root, Geometry g, int seed = 7)
    {
        string fixture = ModelFixture.Checkpoint;
        string ckpt = Path.Combine(root, "checkpoint");
        foreach (string d in new[] { "args", "llm", "vision2d_model", "vision2d_connector", "vision3d_model", "vision3d_connector" })
        {
            Directory.CreateDirectory(Path.Combine(ckpt, d));
        }
        Directory.CreateDirectory(Path.Combine(root, "text_tokenizer"));
        File.Copy(ModelFixture.BertVocab, Path.Combine(root, "text_tokenizer", "vocab.txt"), true);
        foreach (string f in new[] { "tokenizer.model", "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(fixture, f), Path.Combine(ckpt, f), true);
        }
        File.Copy(Path.Combine(fixture, "args", "config.json"), Path.Combine(ckpt, "args", "config.json"), true);
        int bertVocab = File.ReadLines(ModelFixture.BertVocab).Count(l => l.Length > 0);

        // Configs: the fixture's files, sizes replaced.
        JsonObject llm = Load(fixture, "llm");
        llm["vocab_size"] = g.LlmVocab;
        llm["hidden_size"] = g.LlmHidden;
        llm["intermediate_size"] = g.LlmIntermediate;
        llm["num_hidden_layers"] = g.LlmLayers;
        llm["num_attention_heads"] = g.LlmHeads;
        llm["num_key_value_heads"] = g.LlmHeads;
        llm["max_position_embeddings"] = g.MaxPositions;
        llm["original_max_position_embeddings"] = g.OriginalMaxPositions;
        var rope = llm["rope_parameters"]!.AsObject();
        rope["short_factor"] = new JsonArray(g.ShortFactor.Select(x => (JsonNode)x).ToArray());
        rope["long_factor"] = new JsonArray(g.LongFactor.Select(x => (JsonNode)x).ToArray());
        rope["original_max_position_embeddings"] = g.OriginalMaxPositions;
        Save(ckpt, "llm", llm);

        JsonObject v2 = Load(fixture, "vision2d_model");
        v2["hidden_size"] = g.V2Hidden;
        v2["intermediate_size"] = g.V2Intermediate;
        v2["num_hidden_layers"] = g.V2Layers;
        v2["num_attention_heads"] = g.V2Heads;
        v2["image_size"] = g.V2Image;
        v2["patch_size"] = g.V2Patch;
        Save(ckpt, "vision2d_model", v2);

        JsonObject v3 = Load(fixture, "vision3d_model");
        v3["img_size"] = new JsonArray(g.ImgSize.Select(x => (JsonNode)x).ToArray());
        v3["patch_size"] = new JsonArray(g.PatchSize.Select(x => (JsonNode)x).ToArray());
        v3["hidden_size"] = g.V3Hidden;
        v3["mlp_dim"] = g.V3Mlp;
        v3["num_layers"] = g.V3Layers;
        v3["num_heads"] = g.V3Heads;
        v3["max_text_len"] = g.QuestionLength;
        v3["vocab_size"] = bertVocab;
        Save(ckpt, "vision3d_model", v3);

        var rng = new Rng(seed, g.OtherDType);
        TorchCheckpointWriter.Write(Path.Combine(ckpt, "llm", "pytorch_model.bin"), LlmWeights(g, rng));
        TorchCheckpointWriter.Write(Path.Combine(ckpt, "vision2d_model", "pytorch_model.bin"), SigLipWeights(g, rng));
        TorchCheckpointWriter.Write(Path.Combine(ckpt, "vision2d_connector", "pytorch_model.bin"),
            Mlp2x(g.V2Hidden, g.LlmHidden, rng));
        TorchCheckpointWriter.Write(Path.Combine(ckpt, "vision3d_model", "pytorch_model.bin"),
            ClipWeights(g, bertVocab, rng));
        TorchCheckpointWriter.Write(Path.Combine(ckpt, "vision3d_connector", "pytorch_model.bin"),
        [
            .. Mlp2x(g.V3Hidden, g.LlmHidden, rng),
            rng.Matrix("text_mlp.weight", g.LlmHidden, g.BertHidden),
            rng.Vector("text_mlp.bias", g.LlmHidden, 0.02),
        ]);
        return ckpt;
    }

    private static JsonObject Load(string fixture, string dir) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(fixture, dir, "config.json")))!.AsObject();

    private static void Save(string ckpt, string dir, JsonObject json) =>
        File.WriteAllText(Path.Combine(ckpt, dir, "config.json"),
            json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

    private static List<WeightTensor> LlmWeights(Geometry g, Rng rng)
    {
        int h = g.LlmHidden, m = g.LlmIntermediate;
        StorageDType dt = g.LlmDType;
        var list = new List<WeightTensor> { rng.Matrix("model.embed_tokens.weight", g.LlmVocab, h, dt, 1.0) };
        for (int i = 0; i < g.LlmLayers; i++)
        {
            string p = $"model.layers.{i}.";
            list.Add(rng.Matrix(p + "self_attn.o_proj.weight", h, h, dt));
            list.Add(rng.Matrix(p + "self_attn.qkv_proj.weight", 3 * h, h, dt));
            list.Add(rng.Matrix(p + "mlp.gate_up_proj.weight", 2 * m, h, dt));
            list.Add(rng.Matrix(p + "mlp.down_proj.weight", h, m, dt));
            list.Add(rng.Norm(p + "input_layernorm.weight", h, dt));
            list.Add(rng.Norm(p + "post_attention_layernorm.weight", h, dt));
        }
        list.Add(rng.Norm("model.norm.weight", h, dt));
        list.Add(rng.Matrix("lm_head.weight", g.LlmVocab, h, dt));
        return list;
    }

    private static List<WeightTensor> SigLipWeights(Geometry g, Rng rng)
    {
        int h = g.V2Hidden, m = g.V2Intermediate, p = g.V2Patch;
        var list = new List<WeightTensor>
        {
            rng.Tensor("embeddings.patch_embedding.weight", [h, 3, p, p], 1 / Math.Sqrt(3 * p * p)),
            rng.Vector("embeddings.patch_embedding.bias", h, 0.02),
            rng.Tensor("embeddings.position_embedding.weight", [g.SigLipTokensPerSlice, h], 0.1),
        };
        for (int i = 0; i < g.V2Layers; i++)
        {
            string l = $"encoder.layers.{i}.";
            list.Add(rng.Norm(l + "layer_norm1.weight", h));
            list.Add(rng.Vector(l + "layer_norm1.bias", h, 0.02));
            foreach (string proj in new[] { "k_proj", "v_proj", "q_proj", "out_proj" })
            {
                list.Add(rng.Matrix(l + $"self_attn.{proj}.weight", h, h));
                list.Add(rng.Vector(l + $"self_attn.{proj}.bias", h, 0.02));
            }
            list.Add(rng.Norm(l + "layer_norm2.weight", h));
            list.Add(rng.Vector(l + "layer_norm2.bias", h, 0.02));
            list.Add(rng.Matrix(l + "mlp.fc1.weight", m, h));
            list.Add(rng.Vector(l + "mlp.fc1.bias", m, 0.02));
            list.Add(rng.Matrix(l + "mlp.fc2.weight", h, m));
            list.Add(rng.Vector(l + "mlp.fc2.bias", h, 0.02));
        }
        list.Add(rng.Norm("post_layernorm.weight", h));
        list.Add(rng.Vector("post_layernorm.bias", h, 0.02));
        list.Add(rng.Tensor("head.probe", [1, 1, h], 0.1));
        list.Add(rng.Matrix("head.attention.in_proj_weight", 3 * h, h));
        list.Add(rng.Vector("head.attention.in_proj_bias", 3 * h, 0.02));
        list.Add(rng.Matrix("head.attention.out_proj.weight", h, h));
        list.Add(rng.Vector("head.attention.out_proj.bias", h, 0.02));
        list.Add(rng.Norm("head.layernorm.weight", h));
        list.Add(rng.Vector("head.layernorm.bias", h, 0.02));
        list.Add(rng.Matrix("head.mlp.fc1.weight", m, h));
        list.Add(rng.Vector("head.mlp.fc1.bias", m, 0.02));
        list.Add(rng.Matrix("head.mlp.fc2.weight", h, m));
        list.Add(rng.Vector("head.mlp.fc2.bias", h, 0.02));
        return list;
    }

    private static List<WeightTensor> ClipWeights(Geometry g, int bertVocab, Rng rng)
    {
        int h = g.V3Hidden, m = g.V3Mlp;
        int[] grid = g.Grid;
        int patchVector = g.PatchSize[0] * g.PatchSize[1] * g.PatchSize[2];
        var list = new List<WeightTensor>
        {
            rng.Tensor("logit_scale", [], 1.0),
            rng.Tensor("vision_encoder.cls_token", [1, 1, h], 0.5),
            rng.Tensor("vision_encoder.patch_embedding.position_embeddings", [1, grid[0] * grid[1] * grid[2], h], 0.1),
            rng.Matrix("vision_encoder.patch_embedding.patch_embeddings.1.weight", h, patchVector),
            rng.Vector("vision_encoder.patch_embedding.patch_embeddings.1.bias", h, 0.02),
        };
        for (int i = 0; i < g.V3Layers; i++)
        {
            string p = $"vision_encoder.blocks.{i}.";
            list.Add(rng.Matrix(p + "mlp.linear1.weight", m, h));
            list.Add(rng.Vector(p + "mlp.linear1.bias", m, 0.02));
            list.Add(rng.Matrix(p + "mlp.linear2.weight", h, m));
            list.Add(rng.Vector(p + "mlp.linear2.bias", h, 0.02));
            list.Add(rng.Norm(p + "norm1.weight", h));
            list.Add(rng.Vector(p + "norm1.bias", h, 0.02));
            list.Add(rng.Matrix(p + "attn.out_proj.weight", h, h));
            list.Add(rng.Vector(p + "attn.out_proj.bias", h, 0.02));
            list.Add(rng.Matrix(p + "attn.qkv.weight", 3 * h, h));
            list.Add(rng.Norm(p + "norm2.weight", h));
            list.Add(rng.Vector(p + "norm2.bias", h, 0.02));
        }
        list.Add(rng.Norm("vision_encoder.norm.weight", h));
        list.Add(rng.Vector("vision_encoder.norm.bias", h, 0.02));

        int b = g.BertHidden, bi = g.BertIntermediate;
        const string e = "language_encoder.";
        list.Add(rng.Tensor(e + "embeddings.word_embeddings.weight", [bertVocab, b], 0.5));
        list.Add(rng.Tensor(e + "embeddings.position_embeddings.weight", [g.BertPositions, b], 0.1));
        list.Add(rng.Tensor(e + "embeddings.token_type_embeddings.weight", [2, b], 0.1));
        list.Add(rng.Norm(e + "embeddings.LayerNorm.weight", b));
        list.Add(rng.Vector(e + "embeddings.LayerNorm.bias", b, 0.02));
        for (int i = 0; i < g.BertLayers; i++)
        {
            string p = e + $"encoder.layer.{i}.";
            foreach (string qkv in new[] { "query", "key", "value" })
            {
                list.Add(rng.Matrix(p + $"attention.self.{qkv}.weight", b, b));
                list.Add(rng.Vector(p + $"attention.self.{qkv}.bias", b, 0.02));
            }
            list.Add(rng.Matrix(p + "attention.output.dense.weight", b, b));
            list.Add(rng.Vector(p + "attention.output.dense.bias", b, 0.02));
            list.Add(rng.Norm(p + "attention.output.LayerNorm.weight", b));
            list.Add(rng.Vector(p + "attention.output.LayerNorm.bias", b, 0.02));
            list.Add(rng.Matrix(p + "intermediate.dense.weight", bi, b));
            list.Add(rng.Vector(p + "intermediate.dense.bias", bi, 0.02));
            list.Add(rng.Matrix(p + "output.dense.weight", b, bi));
            list.Add(rng.Vector(p + "output.dense.bias", b, 0.02));
            list.Add(rng.Norm(p + "output.LayerNorm.weight", b));
            list.Add(rng.Vector(p + "output.LayerNorm.bias", b, 0.02));
        }
        list.Add(rng.Matrix(e + "pooler.dense.weight", b, b));
        list.Add(rng.Vector(e + "pooler.dense.bias", b, 0.02));
        list.Add(rng.Matrix("mm_vision_proj.weight", h, h));
        list.Add(rng.Vector("mm_vision_proj.bias", h, 0.02));
        list.Add(rng.Matrix("mm_language_proj.weight", h, b));
        list.Add(rng.Vector("mm_language_proj.bias", h, 0.02));
        return list;
    }

    private static List<WeightTensor> Mlp2x(int input, int output, Rng rng) =>
    [
        rng.Matrix("_connector.0.weight", output, input),
        rng.Vector("_connector.0.bias", output, 0.02),
        rng.Matrix("_connector.2.weight", output, output),
        rng.Vector("_connector.2.bias", output, 0.02),
    ];

    /// <summary>Seeded normal values (Box–Muller).</summary>
    private sealed class Rng(int seed, StorageDType defaultDType)
    {
        private readonly Random _r = new(seed);

        private double Normal() =>
            Math.Sqrt(-2 * Math.Log(1 - _r.NextDouble())) * Math.Cos(2 * Math.PI * _r.NextDouble());

        public WeightTensor Tensor(string name, int[] shape, double std, StorageDType? dtype = null,
            double mean = 0)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            var v = new float[n];
            for (int i = 0; i < n; i++)
            {
                v[i] = (float)(mean + std * Normal());
            }
            return WeightTensor.FromFloat32(name, shape, v, dtype ?? defaultDType);
        }

        /// <summary>A [rows, cols] weight with std 1/√cols (unit-variance outputs), or <paramref name="std"/>.</summary>
        public WeightTensor Matrix(string name, int rows, int cols, StorageDType? dtype = null,
            double? std = null) =>
            Tensor(name, [rows, cols], std ?? 1 / Math.Sqrt(cols), dtype);

        public WeightTensor Vector(string name, int n, double std, StorageDType? dtype = null) =>
            Tensor(name, [n], std, dtype);

        /// <summary>A norm gain around 1.</summary>
        public WeightTensor Norm(string name, int n, StorageDType? dtype = null) =>
            Tensor(name, [n], 0.05, dtype, 1.0);
    }
}
