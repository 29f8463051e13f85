using System.Buffers.Binary;
using System.Diagnostics;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Tests.Weights;

/// <summary>Loads every file of the tiny fixture and checks values against facts computed independently in Python.</summary>
public class FixtureLoadingTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("llm", 15, StorageDType.BF16)]
    [InlineData("vision2d_model", 48, StorageDType.F32)]
    [InlineData("vision2d_connector", 4, StorageDType.F32)]
    [InlineData("vision3d_model", 72, StorageDType.F32)]
    [InlineData("vision3d_connector", 6, StorageDType.F32)]
    public void EveryComponentFileLoads(string component, int tensors, StorageDType dtype)
    {
        StateDict sd = TorchCheckpointReader.Read(FixturePaths.Component(component));
        Assert.Equal(tensors, sd.Count);
        Assert.All(sd.Tensors, t => Assert.Equal(dtype, t.DType));
        foreach (WeightTensor t in sd.Tensors)
        {
            Assert.Equal(t.ByteLength, t.Data.Length);
            Assert.All(t.ToFloat32(), v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public void Bf16WeightsWidenExactlyAndMatchPythonValues()
    {
        StateDict llm = TorchCheckpointReader.Read(FixturePaths.Component("llm"));
        WeightTensor emb = llm["model.embed_tokens.weight"];
        Assert.Equal([328, 64], emb.Shape);
        // Raw bf16 bit patterns and their f32 values, read with Python's zipfile + struct.
        ReadOnlySpan<byte> raw = emb.Data.Span;
        ushort[] firstBits = [48180, 15366, 48295, 15604];
        for (int i = 0; i < firstBits.Length; i++)
        {
            Assert.Equal(firstBits[i], BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]));
        }
        float[] f = emb.ToFloat32();
        for (int i = 0; i < f.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(f[i]);
            Assert.Equal(0u, bits & 0xFFFF);
            Assert.Equal(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]), (ushort)(bits >> 16));
        }
        Assert.Equal(-0.010986328125f, f[0]);
        Assert.Equal(0.0081787109375f, f[1]);
        Assert.Equal(0.00171661376953125f, f[^1]);
        Assert.Equal(0.39284931495785713, f.Sum(x => (double)x), 12);
        double[] down = llm["model.layers.1.mlp.down_proj.weight"].ToFloat64();
        Assert.Equal(1.3106320276856422, down.Sum(), 12);
        Assert.Equal(-0.006134033203125, down[0]);
    }

    [Fact]
    public void F32ValuesScalarsAnd4DShapesMatchPython()
    {
        StateDict v3 = TorchCheckpointReader.Read(FixturePaths.Component("vision3d_model"));
        WeightTensor scale = v3["logit_scale"];
        Assert.Empty(scale.Shape);
        Assert.Equal(1, scale.ElementCount);
        Assert.Equal(2.6592600345611572f, scale.ToFloat32()[0]);
        Assert.Equal(Math.Log(1 / 0.07), scale.ToFloat64()[0], 6);

        StateDict v3c = TorchCheckpointReader.Read(FixturePaths.Component("vision3d_connector"));
        float[] bias = v3c["text_mlp.bias"].ToFloat32();
        Assert.Equal(0.06915304064750671f, bias[0]);
        Assert.Equal(-0.008844509720802307f, bias[^1]);
        Assert.Equal(0.32472858601249754, bias.Sum(x => (double)x), 12);

        StateDict v2 = TorchCheckpointReader.Read(FixturePaths.Component("vision2d_model"));
        WeightTensor patch = v2["embeddings.patch_embedding.weight"];
        Assert.Equal([40, 3, 8, 8], patch.Shape);
        float[] pv = patch.ToFloat32();
        Assert.Equal(-0.06625871360301971f, pv[0]);
        Assert.Equal(6.5760192571469815, pv.Sum(x => (double)x), 10);
    }

    [Fact]
    public void GoldenSafetensorsReadsF32AndI64()
    {
        StateDict g = SafetensorsReader.Read(FixturePaths.Golden);
        Assert.Equal(79, g.Count);
        Assert.Equal(60, g.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)));
        WeightTensor ids = g["input.prompt_ids"];
        Assert.Equal(StorageDType.I64, ids.DType);
        Assert.Equal([202], ids.Shape);
        long[] prompt = ids.ToInt64();
        Assert.Equal([1, 265, 303, 265, 276, 275, 261, 265, 285, 266, 269, 286], prompt[..12]);
        Assert.Equal(53165, prompt.Sum());
        Assert.Single(prompt, x => x == -201);
        Assert.Equal([254, 139, 306, 317, 20, 45, 126, 54, 17, 126, 54, 17], g["output.generated_ids"].ToInt64());
        WeightTensor volume = g["input.volume"];
        Assert.Equal([1, 1, 8, 32, 32], volume.Shape);
        Assert.Equal(0.758962869644165f, volume.ToFloat32()[0]);
        Assert.Equal(4120.088603897473, volume.ToFloat64().Sum(), 8);
        Assert.Equal([225, 328], g["output.logits"].Shape);
        Assert.Equal(-291.3651320099897, g["output.logits"].ToFloat64().Sum(), 6);
    }

    [Fact]
    public void GoldenGradientsHaveTheShapesOfTheCheckpointTensors()
    {
        // Every gradient in the golden file names a trainable checkpoint tensor: an independent check of the keys.
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(FixturePaths.Checkpoint);
        StateDict g = SafetensorsReader.Read(FixturePaths.Golden);
        int matched = 0;
        foreach (WeightTensor grad in g.Tensors.Where(t => t.Name.StartsWith("grad.", StringComparison.Ordinal)))
        {
            string rest = grad.Name["grad.".Length..];
            int dot = rest.IndexOf('.');
            CheckpointComponent c = ckpt.Components.Single(x => x.Name == rest[..dot]);
            WeightTensor w = c.Weights[rest[(dot + 1)..]];
            Assert.Equal(w.Shape, grad.Shape);
            matched++;
        }
        Assert.Equal(60, matched);
    }

    [Fact]
    public void CheckpointOpensWithConfigsMatchingFixtureJson()
    {
        var clock = Stopwatch.StartNew();
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(FixturePaths.Checkpoint);
        double openMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        long bytes = ckpt.Components.Sum(c => c.Weights.Tensors.Sum(t => (long)t.Data.Length));
        log.WriteLine($"open (configs + headers + checks) {openMs:F1} ms; read {bytes} bytes of tensor data in " +
                      $"{clock.Elapsed.TotalMilliseconds:F1} ms");
        Assert.True(ckpt.Report.IsValid, string.Join("\n", ckpt.Report.Problems));

        Phi3Config l = ckpt.LlmConfig;
        Assert.Equal((328, 64, 96, 2, 4, 4, 16), (l.VocabSize, l.HiddenSize, l.IntermediateSize, l.NumHiddenLayers,
            l.NumAttentionHeads, l.NumKeyValueHeads, l.HeadDim));
        Assert.Equal((1024, 256, 10000.0, 1e-5), (l.MaxPositionEmbeddings, l.OriginalMaxPositionEmbeddings, l.RopeTheta,
            l.RmsNormEps));
        Assert.NotNull(l.RopeScaling);
        Assert.Equal("longrope", l.RopeScaling!.Type);
        Assert.Equal(8, l.RopeScaling.ShortFactor.Length);
        Assert.Equal(1.7000000000000002, l.RopeScaling.ShortFactor[7]);
        Assert.Equal(6.3999999999999995, l.RopeScaling.LongFactor[7]);
        Assert.Equal(1.118033988749895, l.RopeAttentionFactor, 14);  // fixture.json rope_attention_scaling
        Assert.Equal((1, 320, 320, false), (l.BosTokenId, l.EosTokenId, l.PadTokenId, l.TieWordEmbeddings));

        SiglipVisionConfig v2 = ckpt.Vision2DConfig;
        Assert.Equal((40, 80, 2, 4, 32, 8, 16), (v2.HiddenSize, v2.IntermediateSize, v2.NumHiddenLayers,
            v2.NumAttentionHeads, v2.ImageSize, v2.PatchSize, v2.NumPatches));
        Assert.Equal(1e-6, v2.LayerNormEps);

        M3dClipConfig v3 = ckpt.Vision3DConfig;
        Assert.Equal([8, 32, 32], v3.ImgSize);
        Assert.Equal([2, 8, 8], v3.PatchSize);
        Assert.Equal([4, 4, 4], v3.Grid);
        Assert.Equal((48, 96, 2, 4, 64, 128), (v3.HiddenSize, v3.MlpDim, v3.NumLayers, v3.NumHeads, v3.NumPatches,
            v3.PatchVectorLength));

        BertConfig b = ckpt.BertConfig;
        Assert.Equal((400, 128, 2, 2, 256, 64, 2), (b.VocabSize, b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads,
            b.IntermediateSize, b.MaxPositionEmbeddings, b.TypeVocabSize));
        Assert.Equal(1e-12, b.LayerNormEps);

        Assert.Equal(4, ckpt.Args.ExpId);
        Assert.Equal(768, ckpt.Args.LlmMaxLength);
        Assert.Equal(Med2E3Args.SpatialPoolingScore15, ckpt.Args.Vision3DConnectorType);
        Assert.NotNull(ckpt.Tokenizer.TokenizerModel);
        Assert.NotNull(ckpt.Tokenizer.TokenizerJson);
        Assert.EndsWith(Path.Combine("text_tokenizer", "vocab.txt"), ckpt.BertVocabPath);
        Assert.Equal("", ckpt.Vision2DModel.KeyPrefix);
    }

    [Fact]
    public void ReportCountsKnownUnusedTensorsAndParameters()
    {
        LoadReport r = Med2E3Checkpoint.Open(FixturePaths.Checkpoint).Report;
        Assert.Equal(13, r["vision2d_model"].KnownUnused.Count);  // post_layernorm (2) + head (11)
        Assert.Equal(7, r["vision3d_model"].KnownUnused.Count);   // norm (2), mm projections (4), logit_scale
        Assert.Empty(r["llm"].KnownUnused);
        // Independent count: Phi-3 with V=328, H=64, I=96, L=2.
        long llm = 2 * 328 * 64 + 2 * (64 + 3 * 64 * 64 + 64 * 64 + 64 + 2 * 96 * 64 + 64 * 96) + 64;
        Assert.Equal(llm, r["llm"].ParameterCount);
        Assert.Equal(2 * llm, r["llm"].StoredBytes);
        // 3D connector: 48→64→64 MLP plus text_mlp 128→64.
        Assert.Equal(48 * 64 + 64 + 64 * 64 + 64 + 128 * 64 + 64, r["vision3d_connector"].ParameterCount);
    }

    [Fact]
    public void MimicReferenceTextMlpReplacesTheTrainedValues()
    {
        var options = new CheckpointOptions { MimicReferenceTextMlp = true, ReferenceTextMlpSeed = 7 };
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(FixturePaths.Checkpoint, options);
        float[] w = ckpt.Vision3DConnector.Weights["text_mlp.weight"].ToFloat32();
        float[] b = ckpt.Vision3DConnector.Weights["text_mlp.bias"].ToFloat32();
        Assert.Equal(64 * 128, w.Length);
        Assert.All(b, x => Assert.Equal(0f, x));
        double mean = w.Average(x => (double)x);
        double std = Math.Sqrt(w.Average(x => (x - mean) * (x - mean)));
        Assert.InRange(mean, -0.002, 0.002);
        Assert.InRange(std, 0.019, 0.021);
        Assert.Contains(ckpt.Report.Notes, n => n.Contains("text_mlp", StringComparison.Ordinal));
        // Same seed, same draw; the trained values are untouched in a default open.
        float[] again = Med2E3Checkpoint.Open(FixturePaths.Checkpoint, options)
            .Vision3DConnector.Weights["text_mlp.weight"].ToFloat32();
        Assert.Equal(w, again);
        float[] trained = Med2E3Checkpoint.Open(FixturePaths.Checkpoint).Vision3DConnector.Weights["text_mlp.bias"]
            .ToFloat32();
        Assert.Equal(0.06915304064750671f, trained[0]);
    }
}
