using System.Text.Json.Nodes;
using Med2E3.Native.Cli;
using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Tests.Weights;

/// <summary>Checkpoint layout variants and configs that disagree with the weights (on copies of the fixture).</summary>
public class CheckpointLayoutTests(ITestOutputHelper log)
{
    /// <summary>Copies the fixture (checkpoint + text_tokenizer) into a temp folder; returns the checkpoint path.</summary>
    private static string CopyFixture(TempDir dir)
    {
        foreach (string sub in new[] { "checkpoint", "text_tokenizer" })
        {
            string from = Path.Combine(FixturePaths.Fixture, sub);
            foreach (string f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                string to = Path.Combine(dir.Path, sub, Path.GetRelativePath(from, f));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(f, to);
            }
        }
        return Path.Combine(dir.Path, "checkpoint");
    }

    private static void EditJson(string path, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    [Fact]
    public void ConfigThatDoesNotMatchTheWeightsReportsKeyExpectedAndActual()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        EditJson(Path.Combine(root, "llm", "config.json"), j => j["intermediate_size"] = 100);
        var e = Assert.Throws<CheckpointMismatchException>(() => Med2E3Checkpoint.Open(root));
        log.WriteLine(e.Message);
        Assert.Equal(Path.Combine(root, "llm", "pytorch_model.bin"), e.FilePath);
        Assert.Contains("tensor 'model.layers.0.mlp.gate_up_proj.weight' has shape [192,64], the config expects [200,64]",
            e.Message);
        Assert.Contains("more problem(s)", e.Message);
        ComponentReport llm = e.Report["llm"];
        Assert.Equal(4, llm.ShapeMismatches.Count); // gate_up and down_proj in 2 layers
        ShapeMismatch down = llm.ShapeMismatches.Single(m => m.Key == "model.layers.1.mlp.down_proj.weight");
        Assert.Equal([64, 100], down.Expected);
        Assert.Equal([64, 96], down.Actual);

        // Not strict: the report is available and info exits with the checkpoint code and one line.
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(root, new CheckpointOptions { Strict = false });
        Assert.False(ckpt.Report.IsValid);
        var r = Med2E3.Native.Tests.Cli.CliRunner.Run("info", "--checkpoint", root);
        log.WriteLine(r.Err);
        Assert.Equal(ExitCodes.Checkpoint, r.ExitCode);
        string line = Assert.Single(r.ErrLines);
        Assert.StartsWith("med2e3: ", line);
        Assert.Contains("gate_up_proj", line);
    }

    [Fact]
    public void MissingRequiredConfigFieldNamesFileAndField()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        string cfg = Path.Combine(root, "vision2d_model", "config.json");
        EditJson(cfg, j => j.Remove("hidden_size"));
        var e = Assert.Throws<CheckpointConfigException>(() => Med2E3Checkpoint.Open(root));
        log.WriteLine(e.Message);
        Assert.Equal(cfg, e.FilePath);
        Assert.Equal("hidden_size", e.Field);
        Assert.Equal($"{cfg}: field 'hidden_size': required but missing", e.Message);

        var r = Med2E3.Native.Tests.Cli.CliRunner.Run("info", "--checkpoint", root);
        Assert.Equal(ExitCodes.Checkpoint, r.ExitCode);
        Assert.Equal([$"med2e3: {cfg}: field 'hidden_size': required but missing"], r.ErrLines);
    }

    [Fact]
    public void NestedLongRopeFieldsAndWrongTypesAreReported()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        string cfg = Path.Combine(root, "llm", "config.json");
        EditJson(cfg, j => j["rope_parameters"]!["short_factor"] = new JsonArray(1.0, 2.0));
        var e = Assert.Throws<CheckpointConfigException>(() => Med2E3Checkpoint.Open(root));
        Assert.Equal($"{cfg}: field 'rope_parameters.short_factor': 2 values; allowed: rotary width / 2 = 8", e.Message);
        EditJson(cfg, j =>
        {
            j["rope_parameters"]!["short_factor"] = new JsonArray([.. Enumerable.Repeat(1.0, 8).Select(x => (JsonNode?)x)]);
            j["num_hidden_layers"] = "two";
        });
        var c = Assert.Throws<CheckpointConfigException>(() => Med2E3Checkpoint.Open(root));
        Assert.Contains("field 'num_hidden_layers': expected an integer, found \"two\"", c.Message);
    }

    [Fact]
    public void OlderRopeScalingSpellingIsRead()
    {
        // transformers 4.x / the public Phi-3 config: rope_theta and original_max at top level, rope_scaling {type "su"}.
        using var dir = new TempDir();
        string path = dir.File("config.json");
        File.WriteAllText(path, """
            {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 131072,
             "original_max_position_embeddings": 4096, "rope_theta": 10000.0, "rms_norm_eps": 1e-05,
             "rope_scaling": {"type": "su", "short_factor": [1.05, 1.05, 1.05, 1.1, 1.1, 1.1, 1.25, 1.25, 1.4, 1.6,
               1.65, 1.85, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0,
               2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.05, 2.05, 2.1, 2.1, 2.2, 2.25, 2.25, 2.3, 2.35, 2.4],
               "long_factor": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
               1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
               1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]},
             "bos_token_id": 1, "eos_token_id": [32000, 32007], "pad_token_id": 32000, "tie_word_embeddings": false,
             "hidden_act": "silu", "sliding_window": 262144}
            """);
        Phi3Config c = Phi3Config.Load(path);
        Assert.Empty(c.Validate());
        Assert.Equal(96, c.HeadDim);
        Assert.Equal(9216, c.QkvRows);
        Assert.Equal("su", c.RopeScaling!.Type);
        Assert.Equal(4096, c.OriginalMaxPositionEmbeddings);
        Assert.Equal(Math.Sqrt(17.0 / 12.0), c.RopeAttentionFactor, 12);  // spec §6.3: 1.1902380714
        Assert.Equal([32000, 32007], c.EosTokenIds);
        Assert.Equal(262144, c.SlidingWindow);
        // Expected keys at real size: spec §6.6 shapes and §10.1 parameter count.
        IReadOnlyList<ExpectedTensor> keys = ExpectedKeys.Llm(c);
        Assert.Equal(2 + 32 * 6 + 1, keys.Count);
        Assert.Equal([16384, 3072], keys.Single(k => k.Key == "model.layers.5.mlp.gate_up_proj.weight").Shape);
        Assert.Equal(3_821_079_552L, keys.Sum(k => k.Shape.Aggregate(1L, (a, d) => a * d)));
    }

    [Fact]
    public void RealSizeEncoderTablesMatchTheSpecParameterCounts()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("siglip.json"), """
            {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
             "image_size": 256, "patch_size": 16, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-06}
            """);
        File.WriteAllText(dir.File("m3d.json"), """
            {"img_size": [32, 256, 256], "patch_size": [4, 16, 16], "hidden_size": 768, "mlp_dim": 3072,
             "num_layers": 12, "num_heads": 12, "pos_embed": "perceptron", "spatial_dims": 3, "vocab_size": 30522}
            """);
        SiglipVisionConfig s = SiglipVisionConfig.Load(dir.File("siglip.json"));
        M3dClipConfig m = M3dClipConfig.Load(dir.File("m3d.json"));
        var bert = new BertConfig
        {
            SourcePath = "", VocabSize = 30522, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12,
            IntermediateSize = 3072, MaxPositionEmbeddings = 512, TypeVocabSize = 2,
        };
        static long Sum(IEnumerable<ExpectedTensor> t) => t.Sum(k => k.Shape.Aggregate(1L, (a, d) => a * d));
        IReadOnlyList<ExpectedTensor> v2 = ExpectedKeys.Vision2D(s);
        IReadOnlyList<ExpectedTensor> v3 = ExpectedKeys.Vision3D(m, bert);
        // Spec §10.1.
        Assert.Equal(303_361_024L, Sum(v2.Where(k => !k.Key.StartsWith("head.", StringComparison.Ordinal))));
        Assert.Equal(12_595_200L, Sum(v2.Where(k => k.Key.StartsWith("head.", StringComparison.Ordinal))));
        Assert.Equal(87_389_184L, Sum(v3.Where(k => k.Key.StartsWith("vision_encoder.", StringComparison.Ordinal))));
        Assert.Equal(109_482_240L, Sum(v3.Where(k => k.Key.StartsWith("language_encoder.", StringComparison.Ordinal))));
        Assert.Equal(1_181_185L, Sum(v3.Where(k => k.Key.StartsWith("mm_", StringComparison.Ordinal) || k.Key == "logit_scale")));
        Assert.Equal(12_589_056L, Sum(ExpectedKeys.Vision2DConnector(1024, 3072)));
        Assert.Equal(14_164_992L, Sum(ExpectedKeys.Vision3DConnector(768, 3072, 768)));
        Assert.Equal([768, 1024], v3.Single(k => k.Key.EndsWith("patch_embeddings.1.weight")).Shape);
        Assert.Equal([1, 2048, 768], v3.Single(k => k.Key.EndsWith("position_embeddings")).Shape);
    }

    [Fact]
    public void SafetensorsComponentsWithTheVisionModelPrefixLoad()
    {
        // The released layout may carry SigLIP keys as vision_model.* and may use model.safetensors instead of .bin.
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        string v2dir = Path.Combine(root, "vision2d_model");
        StateDict v2 = TorchCheckpointReader.Read(Path.Combine(v2dir, "pytorch_model.bin"));
        SafetensorsWriter.Write(Path.Combine(v2dir, "model.safetensors"),
            v2.Tensors.Select(t => t.WithName("vision_model." + t.Name)).ToList());
        float[] fc2Bias = v2["encoder.layers.1.mlp.fc2.bias"].ToFloat32();
        File.Delete(Path.Combine(v2dir, "pytorch_model.bin"));
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(root);
        Assert.Equal(WeightFormat.Safetensors, ckpt.Vision2DModel.Format);
        Assert.Equal("vision_model.", ckpt.Vision2DModel.KeyPrefix);
        Assert.Equal(fc2Bias, ckpt.Vision2DModel.Weights["encoder.layers.1.mlp.fc2.bias"].ToFloat32());
        Assert.True(ckpt.Report.IsValid);
        // A file that disappears after opening is reported as a checkpoint error, not a raw I/O error.
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => v2["encoder.layers.0.mlp.fc1.bias"].ToFloat32());
        Assert.Contains("cannot read tensor data", e.Message);
    }

    [Fact]
    public void WrapperPrefixOnEveryKeyIsDetectedButPartialPrefixesAreNot()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        string v3dir = Path.Combine(root, "vision3d_model");
        StateDict v3 = TorchCheckpointReader.Read(Path.Combine(v3dir, "pytorch_model.bin"));
        SafetensorsWriter.Write(Path.Combine(v3dir, "model.safetensors"),
            v3.Tensors.Select(t => t.WithName("module.model." + t.Name)).ToList());
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(root);
        Assert.Equal("module.model.", ckpt.Vision3DModel.KeyPrefix);
        Assert.Equal(128, ckpt.BertConfig.HiddenSize);
        Assert.True(ckpt.Vision3DModel.Weights.ContainsKey("vision_encoder.cls_token"));

        // The LLM's own "model." prefix is part of its key names and is never stripped.
        Assert.Equal("", ckpt.Llm.KeyPrefix);
        Assert.Equal("", Med2E3Checkpoint.DetectKeyPrefix(ckpt.Llm.Weights, ["lm_head.weight"]));
        // Keys that share a prefix but match nothing after removing it keep their names (and are reported).
        Assert.Equal("", Med2E3Checkpoint.DetectKeyPrefix(ckpt.Llm.Weights, ["nothing.like.this"]));
    }

    [Fact]
    public void MissingUnexpectedAndNonFloatTensorsAreProblems()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        string cdir = Path.Combine(root, "vision3d_connector");
        StateDict c = TorchCheckpointReader.Read(Path.Combine(cdir, "pytorch_model.bin"));
        var tensors = c.Tensors.Where(t => !t.Name.StartsWith("text_mlp.", StringComparison.Ordinal)).ToList();
        tensors.Add(WeightTensor.FromFloat32("_connector.1.weight", [1], [1f]));
        tensors[0] = new WeightTensor(tensors[0].Name, StorageDType.I32, tensors[0].GetShape(),
            new byte[tensors[0].ByteLength]);
        SafetensorsWriter.Write(Path.Combine(cdir, "model.safetensors"), tensors);
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(root, new CheckpointOptions { Strict = false });
        ComponentReport r = ckpt.Report["vision3d_connector"];
        foreach (string p in r.Problems)
        {
            log.WriteLine(p);
        }
        Assert.Equal(["text_mlp.weight", "text_mlp.bias"], r.Missing.Select(m => m.Key));
        Assert.Equal(["_connector.1.weight"], r.Unexpected);
        Assert.Contains(r.Problems, p => p.Contains("'_connector.0.weight' is I32, expected a floating-point type"));
        Assert.Contains(r.Problems, p => p.EndsWith("missing tensor 'text_mlp.weight' [64,128]"));
        Assert.Equal(4, r.Problems.Count);

        // Mimicking the reference loader makes a checkpoint without text_mlp acceptable.
        ckpt = Med2E3Checkpoint.Open(root, new CheckpointOptions { Strict = false, MimicReferenceTextMlp = true });
        Assert.Empty(ckpt.Report["vision3d_connector"].Missing);
    }

    [Fact]
    public void BertVocabSearchAndExplicitPath()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        Directory.Move(Path.Combine(dir.Path, "text_tokenizer"), Path.Combine(dir.Path, "elsewhere"));
        var e = Assert.Throws<CheckpointMismatchException>(() => Med2E3Checkpoint.Open(root));
        Assert.Contains("no BERT vocab.txt", e.Message);
        string vocab = Path.Combine(dir.Path, "elsewhere", "vocab.txt");
        Assert.Equal(vocab, Med2E3Checkpoint.Open(root, new CheckpointOptions { BertVocabPath = vocab }).BertVocabPath);
        File.Copy(vocab, Path.Combine(root, "vision3d_model", "vocab.txt"));
        Assert.Equal(Path.Combine(root, "vision3d_model", "vocab.txt"), Med2E3Checkpoint.Open(root).BertVocabPath);
    }

    [Fact]
    public void MissingComponentAndArgsAreNamed()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        File.Delete(Path.Combine(root, "vision2d_connector", "pytorch_model.bin"));
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => Med2E3Checkpoint.Open(root));
        Assert.Equal(Path.Combine(root, "vision2d_connector"), e.FilePath);
        Assert.Contains("no weights", e.Message);
        Directory.Delete(Path.Combine(root, "args"), true);
        e = Assert.ThrowsAny<CheckpointFormatException>(() => Med2E3Checkpoint.Open(root));
        Assert.Contains("neither args/config.json nor config.json", e.Message);
    }

    [Fact]
    public void CrossConfigDisagreementsAreProblems()
    {
        using var dir = new TempDir();
        string root = CopyFixture(dir);
        EditJson(Path.Combine(root, "args", "config.json"), j =>
        {
            j["hidden_size"] = 3072;
            j["vision3d_connector_type"] = "spatial_pooling_mlp2x_gelu";
        });
        EditJson(Path.Combine(root, "vision3d_model", "config.json"), j => j["vocab_size"] = 30522);
        var ckpt = Med2E3Checkpoint.Open(root, new CheckpointOptions { Strict = false });
        foreach (string p in ckpt.Report.Problems)
        {
            log.WriteLine(p);
        }
        Assert.Equal(3, ckpt.Report.ConfigProblems.Count);
        Assert.Contains(ckpt.Report.Problems, p => p.Contains("hidden_size 3072 differs from the LLM's hidden_size 64"));
        Assert.Contains(ckpt.Report.Problems, p => p.Contains("'spatial_pooling_mlp2x_gelu' is not supported"));
        Assert.Contains(ckpt.Report.Problems, p => p.Contains("vocab_size 30522 differs from the BERT word embeddings' 400"));
    }
}
