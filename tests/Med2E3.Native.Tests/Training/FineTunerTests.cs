using System.Diagnostics;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Models.Training;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Model;

namespace Med2E3.Native.Tests.Training;

/// <summary>
/// The stage-2 fine-tuning recipe (spec §9) on the tiny fixture: schedule, gradient accumulation, determinism, and the
/// saved checkpoint folder.
/// </summary>
public class FineTunerTests(ITestOutputHelper log)
{
    internal const int D = 8, H = 32, W = 32;

    internal static float[] RandomVolume(long seed)
    {
        var rng = new SeededRandom(seed);
        var v = new float[D * H * W];
        for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
        return v;
    }

    static Med2E3Model LoadTiny() =>
        Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab });

    static List<FineTuneSample> TwoSamples(Med2E3Model model)
    {
        float[] a = RandomVolume(1), b = RandomVolume(2);
        return
        [
            FineTuneSample.FromQuestion(model, "a", () => (float[])a.Clone(), "What abnormality is seen in the liver?",
                "A hypodense lesion."),
            FineTuneSample.FromQuestion(model, "b", () => (float[])b.Clone(), "Which organ is enlarged?", "The spleen."),
        ];
    }

    static FineTuneOptions Plain => new()
    {
        LearningRate = 1e-3, WarmupRatio = 0, Augment = false, Dropout = false, Shuffle = false, Epochs = 1,
    };

    /// <summary>transformers' get_cosine_schedule_with_warmup lambda, written out independently.</summary>
    static double Expected(int s, int total, int warmup, double lr)
    {
        if (s < warmup) return lr * s / warmup;
        double progress = (s - warmup) / (double)(total - warmup);
        return lr * Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    [Fact]
    public void ScheduleIsLinearWarmupThenCosineToZero()
    {
        Assert.Equal(3, FineTuner.WarmupStepsFor(100, 0.03));
        Assert.Equal(1, FineTuner.WarmupStepsFor(10, 0.03));
        Assert.Equal(2, FineTuner.WarmupStepsFor(34, 0.03));
        Assert.Equal(0, FineTuner.WarmupStepsFor(50, 0));
        foreach (var (total, ratio) in new[] { (100, 0.03), (1000, 0.03), (7, 0.3), (10, 0.0) })
        {
            int warmup = FineTuner.WarmupStepsFor(total, ratio);
            foreach (int s in new[] { 0, 1, warmup - 1, warmup, warmup + 1, total / 2, total - 1, total })
            {
                if (s < 0) continue;
                Assert.Equal(Expected(s, total, warmup, 5e-5), FineTuner.LearningRateAt(s, total, warmup, 5e-5), 1e-15);
            }
        }
        Assert.Equal(0.0, FineTuner.LearningRateAt(0, 100, 3, 5e-5));                 // the first step of a warmup is at 0
        Assert.Equal(5e-5, FineTuner.LearningRateAt(3, 100, 3, 5e-5), 1e-18);          // peak right after the warmup
        Assert.Equal(2.5e-5, FineTuner.LearningRateAt(2, 100, 4, 5e-5), 1e-18);          // half way through a warmup of 4
        Assert.Equal(5e-5 * 0.5 * (1 + Math.Cos(Math.PI * 47 / 97.0)), FineTuner.LearningRateAt(50, 100, 3, 5e-5), 1e-18);
        Assert.Equal(12, FineTuner.TotalStepsFor(5, new FineTuneOptions { GradAccum = 2, Epochs = 4 }));
        Assert.Equal(7, FineTuner.TotalStepsFor(5, new FineTuneOptions { GradAccum = 2, MaxSteps = 7 }));
    }

    [Fact]
    public void GradAccumulationOverTwoSamplesIsOneStepOnTheirMeanLoss()
    {
        using var m1 = LoadTiny();
        using var m2 = LoadTiny();
        var s1 = TwoSamples(m1);
        var s2 = TwoSamples(m2);
        var before = m1.FineTuneParameters.ToDictionary(p => p.Name!, p => p.ToFloatArray());

        using var tuner = new FineTuner(m1, Plain with { GradAccum = 2 }, 2);
        var step = tuner.Step(s1);

        // The same update by hand: backward of (loss_a + loss_b) / 2, clip to 1, AdamW (lr 1e-3, wd 0).
        m2.EnableFineTuning();
        double la, lb, norm;
        using (var scope = TensorScope.Begin())
        {
            var a = Loss(m2, s2[0]);
            var b = Loss(m2, s2[1]);
            la = a.ToFloatArray()[0];
            lb = b.ToFloatArray()[0];
            F.Scale(F.Add(a, b), 0.5).Backward();
        }
        norm = F.ClipGradNorm(m2.FineTuneParameters, 1.0);
        using (var adam = new AdamW(m2.FineTuneParameters, 1e-3, weightDecay: 0))
        {
            adam.Step();
            adam.ZeroGrad();
        }
        log.WriteLine($"loss {step.Loss} vs {(la + lb) / 2}, grad norm {step.GradNorm} vs {norm}");
        Assert.Equal((la + lb) / 2, step.Loss, 1e-6);
        Assert.Equal(norm, step.GradNorm, 1e-5 * norm);                                   // the 1/n scaling
        Assert.Equal(1e-3, step.LearningRate);

        int moved = 0;
        var p2 = m2.FineTuneParameters.ToDictionary(p => p.Name!);
        foreach (var p in m1.FineTuneParameters)
        {
            float[] x = p.ToFloatArray(), y = p2[p.Name!].ToFloatArray(), x0 = before[p.Name!];
            for (int i = 0; i < x.Length; i++)
            {
                Assert.True(Math.Abs(x[i] - y[i]) <= 2e-5, $"{p.Name}[{i}]: {x[i]} vs {y[i]}");
                if (Math.Abs(x[i] - x0[i]) > 5e-4) moved++;
            }
        }
        Assert.True(moved > m1.FineTuneParameters.Sum(p => p.Numel) / 2, $"only {moved} values moved");
        Assert.All(m1.Parameters.All, p => Assert.Null(p.Grad));                          // zeroed after the step
    }

    static Tensor Loss(Med2E3Model model, FineTuneSample s)
    {
        var volume = Tensor.FromFloats(s.LoadVolume(), [1, 1, D, H, W], DType.F32);
        return model.Loss(volume, s.QuestionIds, s.QuestionMask, s.InputIds, s.Labels);
    }

    [Fact]
    public void LossDecreasesOverTenStepsOnTwoSamplesAndFollowsTheSchedule()
    {
        using var model = LoadTiny();
        var samples = TwoSamples(model);
        using var tuner = new FineTuner(model, Plain with { LearningRate = 4e-3, MaxSteps = 10, WarmupRatio = 0.1, Augment = true, Dropout = true, Shuffle = true }, 2);
        var clock = Stopwatch.StartNew();
        var steps = tuner.Train(samples, cancel: TestContext.Current.CancellationToken);
        log.WriteLine($"10 steps in {clock.Elapsed.TotalSeconds:0.00} s; losses {string.Join(", ", steps.Select(s => s.Loss.ToString("0.000")))}");
        Assert.Equal(10, steps.Count);
        Assert.Equal(Enumerable.Range(1, 10), steps.Select(s => s.Step));
        Assert.Equal(5, steps[^1].Epoch);                                                 // 2 steps per epoch
        for (int i = 0; i < 10; i++) Assert.Equal(Expected(i, 10, 1, 4e-3), steps[i].LearningRate, 1e-15);
        Assert.True(steps.Skip(7).Average(s => s.Loss) < 0.7 * steps.Take(2).Average(s => s.Loss),
            string.Join(", ", steps.Select(s => s.Loss)));
        Assert.All(steps, s => Assert.Single(s.Augmentations));
    }

    [Fact]
    public void SameSeedSameSavedWeightsOtherSeedOtherWeightsAndTheFolderReloads()
    {
        using var tmp = new Cli.CliRunner.TempDir();
        string Run(long seed, string name)
        {
            using var model = LoadTiny();
            using var tuner = new FineTuner(model, new FineTuneOptions { LearningRate = 1e-3, Seed = seed, MaxSteps = 2 }, 2);
            tuner.Train(TwoSamples(model), cancel: TestContext.Current.CancellationToken);
            string dir = tmp.File(name);
            tuner.Save(dir);
            return dir;
        }
        string a = Run(5, "a"), b = Run(5, "b"), c = Run(6, "c");
        string[] trained = ["llm", "vision2d_model", "vision2d_connector", "vision3d_connector"];
        foreach (string comp in trained)
        {
            byte[] fa = File.ReadAllBytes(Path.Combine(a, comp, "pytorch_model.bin"));
            Assert.Equal(fa, File.ReadAllBytes(Path.Combine(b, comp, "pytorch_model.bin")));
        }
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, "vision3d_connector", "pytorch_model.bin")),
            File.ReadAllBytes(Path.Combine(c, "vision3d_connector", "pytorch_model.bin")));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, "llm", "pytorch_model.bin")),
            File.ReadAllBytes(Path.Combine(c, "llm", "pytorch_model.bin")));

        // The folder is a valid checkpoint on its own (BERT vocab copied beside it), the frozen part is the source's.
        var saved = Med2E3Checkpoint.Open(a);
        Assert.True(saved.Report.IsValid, string.Join("; ", saved.Report.Problems));
        Assert.NotNull(saved.BertVocabPath);
        var source = Med2E3Checkpoint.Open(ModelFixture.Checkpoint, new CheckpointOptions { BertVocabPath = ModelFixture.BertVocab });
        Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFixture.Checkpoint, "vision3d_model", "pytorch_model.bin")),
            File.ReadAllBytes(Path.Combine(a, "vision3d_model", "pytorch_model.bin")));
        foreach (string f in new[] { "args/config.json", "llm/config.json", "vision2d_model/config.json", "tokenizer.model", "tokenizer_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFixture.Checkpoint, f)), File.ReadAllBytes(Path.Combine(a, f)));

        int total = 0, changed = 0;
        foreach (var (src, dst) in source.Components.Zip(saved.Components))
        {
            Assert.Equal(src.Weights.Keys, dst.Weights.Keys);
            int componentChanged = 0;
            foreach (var t in src.Weights.Tensors)
            {
                var u = dst.Weights[t.Name];
                Assert.Equal(t.DType, u.DType);
                Assert.Equal(t.Shape, u.Shape);
                bool same = t.Data.Span.SequenceEqual(u.Data.Span);
                if (src.Name == "vision3d_model") Assert.True(same, t.Name);
                else
                {
                    total++;
                    if (!same) { changed++; componentChanged++; }
                }
            }
            if (src.Name != "vision3d_model") Assert.True(componentChanged > 0, $"{src.Name}: no tensor changed");
            log.WriteLine($"{src.Name}: {componentChanged}/{src.Weights.Count} tensors changed");
        }
        Assert.True(changed > total / 2, $"{changed}/{total} trained tensors changed");

        using var reloaded = Med2E3Model.Load(a, "cpu");
        using var original = LoadTiny();
        Assert.Equal(original.Parameters.Count, reloaded.Parameters.Count);
        var q = reloaded.TokenizeQuestion("liver");
        Assert.NotEmpty(q.Ids);
    }
}
