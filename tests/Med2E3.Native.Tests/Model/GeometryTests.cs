using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>Synthetic checkpoints of every tested geometry, written once per run and deleted at the end.</summary>
public sealed class GeometryCheckpoints : IDisposable
{
    private readonly string _root =
        Path.Combine(Path.GetTempPath(), "med2e3-geometry-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, Lazy<string>> _written = [];

    /// <summary>The second fixture variant: 16 slices, 4×8×8 3D patches, 5 heads of 8, SigLIP patch 16, f16 LLM.</summary>
    public static readonly Geometry Variant = new("variant-f16",
        ImgSize: [16, 32, 32], PatchSize: [4, 8, 8], V3Hidden: 40, V3Heads: 5, V3Mlp: 72, V3Layers: 2,
        V2Patch: 16, V2Hidden: 48, V2Heads: 3, V2Intermediate: 64, V2Layers: 2,
        BertHidden: 128, BertHeads: 2, BertLayers: 2, BertIntermediate: 256, BertPositions: 64, QuestionLength: 20,
        LlmHidden: 64, LlmHeads: 4, LlmIntermediate: 80, LlmLayers: 2, LlmVocab: 328, MaxPositions: 2048,
        OriginalMaxPositions: 512, LlmDType: StorageDType.F16);

    /// <summary>
    /// An odd geometry: 12 slices in 3 pooled groups of 4, 3D heads of 12, SigLIP 16×16 patch 4, BERT 3 heads,
    /// LLM head dim 24, every component stored in bf16 (as the released checkpoint most likely is).
    /// </summary>
    public static readonly Geometry Odd = new("odd-bf16",
        ImgSize: [12, 16, 16], PatchSize: [2, 4, 4], V3Hidden: 36, V3Heads: 3, V3Mlp: 60, V3Layers: 1,
        V2Patch: 4, V2Hidden: 24, V2Heads: 2, V2Intermediate: 40, V2Layers: 1,
        BertHidden: 192, BertHeads: 3, BertLayers: 1, BertIntermediate: 256, BertPositions: 40, QuestionLength: 16,
        LlmHidden: 48, LlmHeads: 2, LlmIntermediate: 72, LlmLayers: 3, LlmVocab: 330, MaxPositions: 1024,
        OriginalMaxPositions: 128, LlmDType: StorageDType.BF16, OtherDType: StorageDType.BF16);

    /// <summary>The public fixture's geometry (control), f32 LLM storage.</summary>
    public static readonly Geometry Public = new("public-f32",
        ImgSize: [8, 32, 32], PatchSize: [2, 8, 8], V3Hidden: 48, V3Heads: 4, V3Mlp: 96, V3Layers: 2,
        V2Patch: 8, V2Hidden: 40, V2Heads: 4, V2Intermediate: 80, V2Layers: 2,
        BertHidden: 128, BertHeads: 2, BertLayers: 2, BertIntermediate: 256, BertPositions: 64, QuestionLength: 24,
        LlmHidden: 64, LlmHeads: 4, LlmIntermediate: 96, LlmLayers: 2, LlmVocab: 328, MaxPositions: 1024,
        OriginalMaxPositions: 256, LlmDType: StorageDType.F32);

    public static readonly Geometry[] All = [Variant, Odd, Public];

    public GeometryCheckpoints()
    {
        foreach (Geometry g in All)
        {
            _written[g.Name] = new Lazy<string>(() => SyntheticCheckpoint.Write(Path.Combine(_root, g.Name), g));
        }
    }

    public static Geometry Get(string name) => All.Single(g => g.Name == name);

    /// <summary>The checkpoint folder of <paramref name="name"/>, written on first use.</summary>
    public string Checkpoint(string name) => _written[name].Value;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// The whole pipeline (open, info, load, vision encoding, generation, KV cache, LongRoPE long factors, loss and
/// gradients) on synthetic checkpoints whose every size differs from the public fixture's, with f16, bf16 and f32 LLM
/// storage. Nothing here has reference outputs: the checks are shapes, invariants and self-consistency.
/// </summary>
public class GeometryTests(GeometryCheckpoints checkpoints, ITestOutputHelper log) : IClassFixture<GeometryCheckpoints>
{
    public static TheoryData<string> Geometries => new(GeometryCheckpoints.All.Select(g => g.Name));

    private const string Question = "Where is the lesion located?";
    private const string Answer = "Right hepatic lobe.";

    private static Tensor RandomVolume(Geometry g, int seed)
    {
        var r = new Random(seed);
        float[] v = new float[g.ImgSize[0] * g.ImgSize[1] * g.ImgSize[2]];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)r.NextDouble();
        }
        return Tensor.FromFloats(v, [1, 1, g.ImgSize[0], g.ImgSize[1], g.ImgSize[2]], DType.F32);
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void CheckpointOpensAndInfoSucceeds(string name)
    {
        Geometry g = GeometryCheckpoints.Get(name);
        string dir = checkpoints.Checkpoint(name);
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(dir);
        Assert.Empty(ckpt.Report.Problems);
        Assert.Equal(g.LlmDType, ckpt.Llm.Weights["lm_head.weight"].DType);
        Assert.Equal(g.LlmHeadDim, ckpt.LlmConfig.HeadDim);
        Assert.Equal(g.BertHidden, ckpt.BertConfig.HiddenSize);
        Assert.Equal(g.BertHeads, ckpt.BertConfig.NumAttentionHeads);
        Assert.Equal(g.OtherDType, ckpt.Vision2DModel.Weights["encoder.layers.0.mlp.fc1.weight"].DType);
        Assert.Equal(g.OtherDType, ckpt.Vision3DConnector.Weights["text_mlp.weight"].DType);

        var output = new StringWriter();
        int rc = CheckpointInfo.Run(dir, output, new CheckpointOptions(), readData: true);
        log.WriteLine(output.ToString());
        Assert.Equal(0, rc);
        Assert.Contains("OK: every tensor matches the configs", output.ToString());
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void GenerationRunsWithTheGeometrysTokenCounts(string name)
    {
        Geometry g = GeometryCheckpoints.Get(name);
        string dir = checkpoints.Checkpoint(name);
        using var leaks = TensorStats.Track();
        using (var model = Med2E3Model.Load(dir, "cpu"))
        using (var volume = RandomVolume(g, 5))
        {
            var q = model.TokenizeQuestion(Question);
            Assert.Equal(g.QuestionLength, q.Ids.Length);
            using (var vision = model.EncodeVision(volume, [.. q.Ids.Select(i => (long)i)], [.. q.Mask.Select(i => (long)i)]))
            {
                int visual = g.Pooled3DTokens + g.SigLipTokensPerSlice;
                Assert.Equal([1, g.Pooled3DTokens, g.LlmHidden], vision.Tokens3D.Shape);
                Assert.Equal([1, visual, g.LlmHidden], vision.VisionTokens.Shape);
                Assert.Equal(g.Slices, vision.SliceScores.Shape[^1]);
                Assert.All(vision.VisionTokens.ToFloatArray(), x => Assert.True(float.IsFinite(x)));
            }

            var result = model.Generate(volume, Question, new GenerationOptions { MaxNewTokens = 6 });
            log.WriteLine($"{name}: ids [{string.Join(", ", result.TokenIds)}] stop {result.StopReason} " +
                          $"prompt {result.PromptLength} scores [{string.Join(", ", result.SliceScores.Select(s => s.ToString("F3")))}]");
            Assert.True(result.StopReason == "length" ? result.TokenIds.Length == 6 : result.StopReason == "eos");
            Assert.All(result.TokenIds, id => Assert.InRange(id, 0, g.LlmVocab - 1));
            Assert.Equal(g.Slices, result.SliceScores.Length);
            Assert.Equal(1.0, result.SliceScores.Sum(), 5);
            Assert.All(result.SliceScores, s => Assert.True(s > 0));
            // The prompt holds every visual token plus the text around the placeholder.
            Assert.True(result.PromptLength > g.Pooled3DTokens + g.SigLipTokensPerSlice);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void KvCacheDecodeEqualsFullRecompute(string name)
    {
        string dir = checkpoints.Checkpoint(name);
        using var leaks = TensorStats.Track();
        using (var model = Med2E3Model.Load(dir, "cpu"))
        using (TensorScope.Begin())
        using (new NoGradScope())
        {
            int d = model.Llm.Config.HiddenSize, t0 = 29;
            var embeds = F.Scale(Tensor.Randn(13, [1, t0, d]), 0.5);                            // (1, T0, D)
            int[] tokens = [5, 17, 100, 3, 250, 320, 42];
            using var cache = model.Llm.CreateCache(1, t0 + tokens.Length, DType.F32, Device.Cpu);
            var cached = new List<float[]> { model.Llm.Prefill(embeds, cache).ToFloatArray() };  // (1, V)
            foreach (int tok in tokens[..^1])
            {
                var id = Tensor.FromArray(new long[] { tok }, 1);                                // (1)
                cached.Add(model.Llm.DecodeStep(id, cache).ToFloatArray());                     // (1, V)
            }
            var ids = Tensor.FromArray(tokens[..^1].Select(x => (long)x).ToArray(), 1, tokens.Length - 1);
            var all = F.Concat(1, embeds, model.Llm.Embed(ids));                                 // (1, T0 + n, D)
            var full = model.Llm.Forward(all);                                                   // (1, T0 + n, V)
            for (int i = 0; i < cached.Count; i++)
            {
                var row = full.Select(1, t0 - 1 + i).Contiguous().ToFloatArray();                // (1, V)
                double diff = row.Zip(cached[i], (a, b) => Math.Abs(a - b)).Max();
                double scale = row.Max(Math.Abs);
                Assert.True(diff <= 1e-4 * Math.Max(1, scale), $"{name} step {i}: {diff} (scale {scale})");
            }
        }
        Assert.Equal(0, leaks.Live);
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void LongSequenceTakesTheLongFactorPath(string name)
    {
        Geometry g = GeometryCheckpoints.Get(name);
        string dir = checkpoints.Checkpoint(name);
        using var leaks = TensorStats.Track();
        using (var model = Med2E3Model.Load(dir, "cpu"))
        using (TensorScope.Begin())
        using (new NoGradScope())
        {
            int orig = g.OriginalMaxPositions, t = orig + 40, v = g.LlmVocab;
            var embeds = F.Scale(Tensor.Randn(21, [1, t, g.LlmHidden]), 0.5);                   // (1, T, D)
            float[] longLogits = model.Llm.Forward(embeds).ToFloatArray();                       // (1, T, V)
            Assert.All(longLogits, x => Assert.True(float.IsFinite(x)));
            // The first orig positions alone use the short factors; the long run rotates them with the long ones.
            float[] shortLogits = model.Llm.Forward(embeds.Narrow(1, 0, orig).Contiguous()).ToFloatArray();
            double firstDiff = 0, laterDiff = 0, scale = 0;
            for (int p = 0; p < orig; p++)
            {
                for (int j = 0; j < v; j++)
                {
                    double dlt = Math.Abs(longLogits[p * v + j] - shortLogits[p * v + j]);
                    if (p == 0) firstDiff = Math.Max(firstDiff, dlt);
                    else laterDiff = Math.Max(laterDiff, dlt);
                    scale = Math.Max(scale, Math.Abs(shortLogits[p * v + j]));
                }
            }
            log.WriteLine($"{name}: T = {t}; position 0 diff {firstDiff:e2}, later {laterDiff:e2}, scale {scale:e2}");
            // Position 0 has angle 0 under either factor set (only the shared attention scaling applies).
            Assert.True(firstDiff <= 1e-4 * Math.Max(1, scale), $"position 0 differs by {firstDiff}");
            Assert.True(laterDiff > 1e-3 * Math.Max(1, scale), $"long factors changed nothing ({laterDiff})");
        }
        Assert.Equal(0, leaks.Live);
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void LossAndBackwardGiveFiniteGradientsForEveryTrainableParameter(string name)
    {
        Geometry g = GeometryCheckpoints.Get(name);
        string dir = checkpoints.Checkpoint(name);
        using var leaks = TensorStats.Track();
        using (var model = Med2E3Model.Load(dir, "cpu"))
        using (var volume = RandomVolume(g, 9))
        {
            model.EnableFineTuning();
            float loss;
            using (var l = model.Loss(volume, Question, Answer))
            {
                loss = l.ToFloatArray()[0];
                l.Backward();
            }
            log.WriteLine($"{name}: loss {loss}");
            Assert.True(float.IsFinite(loss) && loss > 0, $"loss {loss}");
            Assert.NotEmpty(model.FineTuneParameters);
            double total = 0;
            foreach (var p in model.FineTuneParameters)
            {
                Assert.True(p.Grad is not null, $"{p.Name} has no gradient");
                Assert.Equal(p.Shape, p.Grad!.Shape);
                float[] grad = p.Grad.ToFloatArray();
                Assert.All(grad, x => Assert.True(float.IsFinite(x), $"{p.Name}: {x}"));
                total += grad.Sum(x => (double)x * x);
            }
            Assert.True(total > 0, "every gradient is zero");
            foreach (string component in new[] { "llm.", "vision2d_model.", "vision2d_connector.", "vision3d_connector." })
            {
                Assert.Contains(model.FineTuneParameters, p => p.Name!.StartsWith(component, StringComparison.Ordinal));
            }
            Assert.All(model.Parameters.WithPrefix("vision3d_model."), p => Assert.Null(p.Grad));
            model.Parameters.ZeroGrad();
        }
        Assert.Equal(0, leaks.Live);
    }
}

/// <summary>A question encoder whose head width is not 64: M3D-CLIP's config has no BERT head count to read.</summary>
public class BertHeadCountTests
{
    [Fact]
    public void HeadCountThatIsNotWidthOver64IsPassedThroughLoad()
    {
        Geometry g = GeometryCheckpoints.Public with { Name = "bert-heads-32", BertHidden = 96, BertHeads = 3 };
        string root = Path.Combine(Path.GetTempPath(), "med2e3-bert-heads-" + Guid.NewGuid().ToString("N"));
        try
        {
            string dir = SyntheticCheckpoint.Write(root, g);
            var refused = Assert.Throws<CheckpointFormatException>(() => Med2E3Model.Load(dir, "cpu"));
            Assert.Contains("give the head count explicitly", refused.Message);

            using var leaks = TensorStats.Track();
            using (var model = Med2E3Model.Load(dir, "cpu", new Med2E3LoadOptions { BertAttentionHeads = 3 }))
            using (var volume = Tensor.Rand(7, [1, 1, .. g.ImgSize]))
            {
                var result = model.Generate(volume, "Where is the lesion located?", new GenerationOptions { MaxNewTokens = 2 });
                Assert.Equal(g.Slices, result.SliceScores.Length);
                Assert.Equal(1.0, result.SliceScores.Sum(), 5);
            }
            Assert.Equal(0, leaks.Live);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}
