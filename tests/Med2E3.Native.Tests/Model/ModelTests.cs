using Med2E3.Native.Models.Golden;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>The public API of <see cref="Med2E3Model"/> on the tiny fixture: generation, KV cache, sampling, training.</summary>
public class ModelTests(ITestOutputHelper log)
{
    private static Med2E3Model LoadTiny() =>
        Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab });

    private static GoldenFixture Golden => GoldenFixture.Open(ModelFixture.Fixture);

    private static Tensor GoldenVolume(GoldenFixture fx)
    {
        var v = fx.Tensor("input.volume");
        return Tensor.FromFloats(v.ToFloat32(), v.GetShape(), DType.F32);                 // (1, 1, D, Hi, W)
    }

    [Fact]
    public void GenerateFromStringsReproducesTheGoldenGreedyIds()
    {
        var fx = Golden;
        using var leaks = TensorStats.Track();
        using (var model = LoadTiny())
        using (var volume = GoldenVolume(fx))
        {
            var streamed = new List<GeneratedToken>();
            var result = model.Generate(volume, fx.Question, new GenerationOptions
            {
                MaxNewTokens = fx.MaxNewTokens,
                OnToken = streamed.Add,
            });
            log.WriteLine($"ids [{string.Join(", ", result.TokenIds)}] text \"{result.Text}\" stop {result.StopReason}");
            Assert.Equal(fx.Longs("output.generated_ids").Select(x => (int)x), result.TokenIds);
            Assert.Equal(fx.Floats("output.slice_scores"), result.SliceScores, (a, b) => Math.Abs(a - b) < 1e-6);
            Assert.Equal(1.0, result.SliceScores.Sum(), 5);
            Assert.Equal(fx.Tensor("output.inputs_embeds").Shape[0], result.PromptLength);
            Assert.Equal("length", result.StopReason);
            // Streaming: one callback per token, in order, and the deltas add up to the decoded answer.
            Assert.Equal(result.TokenIds, streamed.Select(t => t.Id));
            Assert.Equal(Enumerable.Range(0, result.TokenIds.Length), streamed.Select(t => t.Index));
            Assert.Equal(result.Text, string.Concat(streamed.Select(t => t.TextDelta)));
            Assert.Equal(result.TokenIds.Length - 1, result.Timings.DecodeSteps);

            // The first golden token is an incomplete byte-fallback character: held back while generation goes on,
            // flushed when it is the last token.
            var one = new List<GeneratedToken>();
            var first = model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 1, OnToken = one.Add });
            Assert.Single(one);
            Assert.Equal(first.Text, one[0].TextDelta);
            Assert.Equal("", streamed[0].TextDelta);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void KvCacheDecodeEqualsFullRecompute()
    {
        using var model = LoadTiny();
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        using (new NoGradScope())
        {
            int d = model.Llm.Config.HiddenSize, t0 = 37;
            var embeds = F.Scale(Tensor.Randn(11, [1, t0, d]), 0.5);                            // (1, T0, D)
            int[] tokens = [5, 17, 100, 3, 250, 320, 42];
            using var cache = model.Llm.CreateCache(1, t0 + tokens.Length, DType.F32, Device.Cpu);
            var cached = new List<float[]> { model.Llm.Prefill(embeds, cache).ToFloatArray() };  // (1, V)
            foreach (int tok in tokens[..^1])
            {
                var id = Tensor.FromArray(new long[] { tok }, 1);                                // (1)
                cached.Add(model.Llm.DecodeStep(id, cache).ToFloatArray());                     // (1, V)
            }
            Assert.Equal(t0 + tokens.Length - 1, cache.Length);

            // The same sequence without a cache: embeds ++ embed(tokens), logits of every position.
            var ids = Tensor.FromArray(tokens[..^1].Select(x => (long)x).ToArray(), 1, tokens.Length - 1);
            var all = F.Concat(1, embeds, model.Llm.Embed(ids));                                 // (1, T0 + n, D)
            var full = model.Llm.Forward(all);                                                   // (1, T0 + n, V)
            for (int i = 0; i < cached.Count; i++)
            {
                var row = full.Select(1, t0 - 1 + i).Contiguous().ToFloatArray();                // (1, V)
                double diff = row.Zip(cached[i], (a, b) => Math.Abs(a - b)).Max();
                double scale = row.Max(Math.Abs);
                log.WriteLine($"step {i}: max |cached − full| = {diff:e2} (max |logit| {scale:e2})");
                Assert.True(diff <= 1e-5 * Math.Max(1, scale), $"step {i}: {diff}");
            }
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        var fx = Golden;
        using var model = LoadTiny();
        using var volume = GoldenVolume(fx);
        GenerationResult Sample(long seed) => model.Generate(volume, fx.Question, new GenerationOptions
        {
            MaxNewTokens = 10, Temperature = 1.5, TopP = 0.95, Seed = seed,
        });
        var a = Sample(1234);
        var b = Sample(1234);
        Assert.Equal(a.TokenIds, b.TokenIds);
        Assert.Equal(a.Text, b.Text);
        var others = Enumerable.Range(1, 6).Select(s => string.Join(",", Sample(s).TokenIds)).ToHashSet();
        log.WriteLine(string.Join("\n", others));
        Assert.True(others.Count >= 2, "six seeds all gave the same sample");
        // Greedy ignores the seed.
        var g1 = model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 4, Seed = 1 });
        var g2 = model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 4, Seed = 2 });
        Assert.Equal(g1.TokenIds, g2.TokenIds);
    }

    [Fact]
    public void LengthCapAndStopTokensAreHonoured()
    {
        var fx = Golden;
        using var model = LoadTiny();
        using var volume = GoldenVolume(fx);
        int[] golden = [.. fx.Longs("output.generated_ids").Select(x => (int)x)];
        int promptLength = fx.Tensor("output.inputs_embeds").Shape[0];
        // Default cap: prompt embeddings + new tokens ≤ MaxTotalLength.
        var capped = model.Generate(volume, fx.Question, new GenerationOptions { MaxTotalLength = promptLength + 3 });
        Assert.Equal(golden[..3], capped.TokenIds);
        Assert.Equal("length", capped.StopReason);
        // A stop id ends generation right after it is produced, and it is returned.
        var stopped = model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 12, StopTokenIds = [golden[4]] });
        Assert.Equal(golden[..5], stopped.TokenIds);
        Assert.Equal("eos", stopped.StopReason);
        var none = model.Generate(volume, fx.Question, new GenerationOptions { MaxTotalLength = promptLength });
        Assert.Empty(none.TokenIds);
    }

    [Fact]
    public void LossFromStringsEqualsGoldenLossAndCheckpointingGivesTheSameGradients()
    {
        var fx = Golden;
        using var model = LoadTiny();
        using var volume = GoldenVolume(fx);
        model.EnableFineTuning();
        float loss;
        using (var l = model.Loss(volume, fx.Question, fx.Answer))
        {
            loss = l.ToFloatArray()[0];
            l.Backward();
        }
        Assert.Equal(fx.Floats("output.loss")[0], loss, 1e-5 * loss);
        var plain = model.FineTuneParameters.ToDictionary(p => p.Name!, p => p.Grad!.ToFloatArray());
        model.Parameters.ZeroGrad();

        model.EnableFineTuning(gradientCheckpointing: true);
        using (var l = model.Loss(volume, fx.Question, fx.Answer))
        {
            Assert.Equal(loss, l.ToFloatArray()[0]);
            l.Backward();
        }
        foreach (var p in model.FineTuneParameters)
        {
            Assert.NotNull(p.Grad);
            var row = GoldenCheck.Compare(p.Name!, p.Grad!.ToFloatArray(), plain[p.Name!], 1e-6);
            Assert.True(row.Passed || row.MaxAbsError < 1e-12, $"{p.Name}: {row.RelativeError}");
        }
        // The frozen M3D-CLIP gets no gradient.
        Assert.All(model.Parameters.WithPrefix("vision3d_model."), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void AdamWStepsLowerTheFineTuningLoss()
    {
        var fx = Golden;
        using var model = LoadTiny();
        using var volume = GoldenVolume(fx);
        model.EnableFineTuning();
        using var opt = new AdamW(model.FineTuneParameters, lr: 1e-3, weightDecay: 0);
        var losses = new List<float>();
        for (int step = 0; step < 4; step++)
        {
            using var l = model.Loss(volume, fx.Question, fx.Answer);
            losses.Add(l.ToFloatArray()[0]);
            l.Backward();
            F.ClipGradNorm(model.FineTuneParameters, 1.0);
            opt.Step();
            opt.ZeroGrad();
        }
        log.WriteLine(string.Join(" → ", losses));
        Assert.True(losses[^1] < losses[0] - 0.05, string.Join(", ", losses));
    }

    [Fact]
    public void BadInputsAreTypedErrors()
    {
        using var model = LoadTiny();
        using var wrong = Tensor.Zeros([1, 1, 4, 32, 32]);
        var e = Assert.Throws<ShapeMismatchException>(() => model.Generate(wrong, "What is seen?"));
        Assert.Contains("1 x 8 x 32 x 32", e.Message);
        Assert.Throws<ArgumentException>(() => ComputeDevice.Parse("tpu"));
        Assert.Equal(Device.Cuda(1), ComputeDevice.Parse("cuda:1"));
        Assert.Throws<NotSupportedException>(() => model.EmbedPrompt([1, -200, 5], model.Llm.EmbedTokens));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.EmbedPrompt([1, 100000], model.Llm.EmbedTokens));
    }

    [Fact]
    public void SplitQuestionAddsThePlaceholderForThePromptOnly()
    {
        Assert.Equal(("<image3d>\nWhat is seen?", "What is seen?"), Med2E3Model.SplitQuestion("  What is seen? "));
        Assert.Equal(("<image3d>\nWhat is seen?", "What is seen?"), Med2E3Model.SplitQuestion("<image3d>\nWhat is seen?"));
    }

    [Fact]
    public void CudaDeviceNeedsABackend()
    {
        if (Backends.IsRegistered(DeviceKind.Cuda))
        {
            Assert.Skip("a CUDA backend is registered; the CUDA golden check covers this device");
        }
        var e = Assert.Throws<DeviceUnavailableException>(() => Med2E3Model.Load(ModelFixture.Checkpoint, "cuda"));
        Assert.Contains("cuda:0", e.Message);
    }
}
