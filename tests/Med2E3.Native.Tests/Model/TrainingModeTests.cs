using Med2E3.Native.Models.Golden;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// Training-mode behaviour of the fine-tuning step (spec §9): TG-IS score dropout and BERT dropout, seeded, on the
/// tiny fixture. With dropout off the step is the golden evaluation-mode loss.
/// </summary>
public class TrainingModeTests(ITestOutputHelper log)
{
    private static Med2E3Model LoadTiny(DType? dtype = null) =>
        Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", new Med2E3LoadOptions
        {
            BertVocabPath = ModelFixture.BertVocab,
            ComputeDType = dtype,
        });

    private static GoldenFixture Golden => GoldenFixture.Open(ModelFixture.Fixture);

    private static Tensor GoldenVolume(GoldenFixture fx)
    {
        var v = fx.Tensor("input.volume");
        return Tensor.FromFloats(v.ToFloat32(), v.GetShape(), DType.F32);                 // (1, 1, D, Hi, W)
    }

    private static float LossValue(Med2E3Model model, Tensor volume, GoldenFixture fx, TrainingOptions? training)
    {
        using var l = model.Loss(volume, fx.Question, fx.Answer, training);
        return l.ToFloatArray()[0];
    }

    private static (long[] Ids, long[] Mask) Question(Med2E3Model model, GoldenFixture fx)
    {
        var q = model.TokenizeQuestion(Med2E3Model.SplitQuestion(fx.Question).BertQuestion);
        return ([.. q.Ids.Select(i => (long)i)], [.. q.Mask.Select(i => (long)i)]);
    }

    [Fact]
    public void DropoutOffIsTheGoldenLossAndRateZeroIsDropoutOff()
    {
        var fx = Golden;
        using var leaks = TensorStats.Track();
        using (var model = LoadTiny())
        using (var volume = GoldenVolume(fx))
        {
            float golden = fx.Floats("output.loss")[0];
            float plain = LossValue(model, volume, fx, null);
            Assert.Equal(golden, plain, 1e-5 * golden);
            // Dropout off (whatever the rates and seed) and rates of 0 run exactly the evaluation path.
            Assert.Equal(plain, LossValue(model, volume, fx, new TrainingOptions { Dropout = false, Seed = 7 }));
            Assert.Equal(plain, LossValue(model, volume, fx,
                new TrainingOptions { Dropout = true, ScoreDropout = 0, BertDropout = 0, Seed = 7 }));
            // p → 0: every mask entry is 1/(1 − p) ≈ 1 and BERT attention runs unfused; the loss converges to the
            // dropout-off loss (fp32 summation-order differences only).
            float tiny = LossValue(model, volume, fx,
                new TrainingOptions { Dropout = true, ScoreDropout = 1e-9, BertDropout = 1e-9, Seed = 7 });
            log.WriteLine($"golden {golden} off {plain} p=1e-9 {tiny}");
            Assert.Equal(plain, tiny, 1e-5 * plain);
            // The default rates change the loss.
            float on = LossValue(model, volume, fx, TrainingOptions.Train(7));
            Assert.NotEqual(plain, on);
            Assert.Throws<ArgumentOutOfRangeException>(() => model.Loss(volume, fx.Question, fx.Answer,
                new TrainingOptions { Dropout = true, ScoreDropout = 1.0 }));
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void SameSeedSameLossAndGradientsDifferentSeedsDiffer()
    {
        var fx = Golden;
        using var model = LoadTiny();
        using var volume = GoldenVolume(fx);
        model.EnableFineTuning();
        (float Loss, Dictionary<string, float[]> Grads) Step(long seed)
        {
            model.Parameters.ZeroGrad();
            using var l = model.Loss(volume, fx.Question, fx.Answer, TrainingOptions.Train(seed));
            l.Backward();
            return (l.ToFloatArray()[0], model.FineTuneParameters.ToDictionary(p => p.Name!, p => p.Grad!.ToFloatArray()));
        }
        var a = Step(11);
        var b = Step(11);
        var c = Step(12);
        log.WriteLine($"seed 11: {a.Loss} (twice {b.Loss}), seed 12: {c.Loss}");
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (name, g) in a.Grads) Assert.Equal(g, b.Grads[name]);
        Assert.NotEqual(a.Loss, c.Loss);
        Assert.NotEqual(a.Grads["vision3d_connector.text_mlp.weight"], c.Grads["vision3d_connector.text_mlp.weight"]);
        Assert.All(model.Parameters.WithPrefix("vision3d_model."), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void ScoreDropoutZeroesAboutTenPercentAndScalesSurvivorsByOneOverNinetenths()
    {
        var fx = Golden;
        using var leaks = TensorStats.Track();
        using (var model = LoadTiny())
        using (var volume = GoldenVolume(fx))
        using (new NoGradScope())
        {
            var (ids, mask) = Question(model, fx);
            using var eval = model.EncodeVision(volume, ids, mask);
            float[] s = eval.SliceScores.ToFloatArray();
            float keep = (float)(1.0 / 0.9);

            // The model's step draws its score mask from stream 1 of the seed: same scores as the connector with that
            // generator, and BERT dropout off leaves the text vector untouched.
            using (var train = model.EncodeVision(volume, ids, mask,
                       new TrainingOptions { Dropout = true, BertDropout = 0, Seed = 3 }))
            {
                Assert.Equal(eval.TextPooled.ToFloatArray(), train.TextPooled.ToFloatArray());
                using var scope = TensorScope.Begin();
                var direct = model.Vision3DConnector.Forward(eval.Features3D, eval.Slices2D, eval.TextPooled,
                    new Dropout(0.1, Dropout.Stream(3, 1)));
                Assert.Equal(direct.SliceScores.ToFloatArray(), train.SliceScores.ToFloatArray());
            }

            int seeds = 300, kept = 0, trials = 0;
            bool sawSumOtherThanOne = false;
            for (int seed = 0; seed < seeds; seed++)
            {
                using var scope = TensorScope.Begin();
                var o = model.Vision3DConnector.Forward(eval.Features3D, eval.Slices2D, eval.TextPooled,
                    new Dropout(0.1, Dropout.Stream(seed, 1)));
                float[] d = o.SliceScores.ToFloatArray();
                for (int i = 0; i < d.Length; i++)
                {
                    trials++;
                    if (d[i] == 0) continue;
                    kept++;
                    Assert.Equal(s[i] * keep, d[i]);                                         // survivors × 1/0.9, exactly
                }
                sawSumOtherThanOne |= Math.Abs(d.Sum() - 1) > 1e-3;
            }
            // Binomial(n, 0.9): mean 0.9n, sd √(0.09n); 5 sd is a false alarm rate below 1e-6.
            double sd = Math.Sqrt(0.09 * trials);
            log.WriteLine($"kept {kept}/{trials} (expected {0.9 * trials:F0} ± {sd:F1})");
            Assert.InRange(kept, 0.9 * trials - 5 * sd, 0.9 * trials + 5 * sd);
            Assert.True(sawSumOtherThanOne, "dropped scores should not sum to 1");
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void BertDropoutChangesThePooledOutputOnlyWhenEnabled()
    {
        var fx = Golden;
        using var leaks = TensorStats.Track();
        using (var model = LoadTiny())
        using (new NoGradScope())
        using (var scope = TensorScope.Begin())
        {
            var (ids, mask) = Question(model, fx);
            float[] Pooled(Dropout? d) => model.TextEncoder.Forward(ids, mask, 1, Device.Cpu, d).ToFloatArray();
            float[] eval = Pooled(null);
            Assert.Equal(eval, Pooled(null));
            // A rate-0 dropout object runs the unfused attention (softmax, identity mask, matmul): same output up to
            // fp32 summation order, which checks the unfused path against the fused op.
            float[] unfused = Pooled(new Dropout(0, new SeededRandom(1)));
            Assert.Equal(eval, unfused, (a, b) => Math.Abs(a - b) <= 1e-5 + 1e-4 * Math.Abs(b));
            var drop = new Dropout(0.1, new SeededRandom(1));
            float[] dropped = Pooled(drop);
            float[] again = Pooled(new Dropout(0.1, new SeededRandom(1)));
            Assert.Equal(dropped, again);
            double diff = eval.Zip(dropped, (a, b) => Math.Abs(a - b)).Max();
            log.WriteLine($"max |pooled(drop) − pooled(eval)| = {diff}; mask draws {drop.Draws}");
            Assert.True(diff > 1e-4, $"BERT dropout did not change the pooled output ({diff})");
            // One mask per real position: embeddings (L·C), per layer probabilities (H·L·L) and two hidden (2·L·C).
            var cfg = model.TextEncoder.Config;
            long l = mask.Count(m => m != 0), c = cfg.HiddenSize, h = cfg.NumAttentionHeads;
            Assert.Equal(l * c + cfg.NumHiddenLayers * (h * l * l + 2 * l * c), drop.Draws);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void DropoutMaskIsSeededScaledAndCarriesTheGradient()
    {
        using var leaks = TensorStats.Track();
        var rng = new SeededRandom(99);
        float[] xs = [.. Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() * 4 - 2))];
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.FromArray(xs, 10, 100);
            x.RequiresGrad = true;
            var drop = new Dropout(0.25, new SeededRandom(4));
            var y = drop.Apply(x);                                                              // (10, 100)
            double[] mask = new Dropout(0.25, new SeededRandom(4)).NextMask(1000);
            float[] ys = y.ToFloatArray();
            for (int i = 0; i < xs.Length; i++) Assert.Equal(xs[i] * (float)mask[i], ys[i]);
            Assert.InRange(mask.Count(m => m == 0), 250 - 5 * 13.7, 250 + 5 * 13.7);          // Binomial(1000, 0.25)
            Assert.All(mask, m => Assert.True(m == 0 || m == 1 / 0.75));
            F.Sum(F.Sum(y, 1), 0).Backward();                                                   // d Σy / dx = mask
            Assert.Equal(mask.Select(m => (float)m), x.Grad!.ToFloatArray());
            Assert.Equal(1000, drop.Draws);
            // bf16: multiplied in fp32, the product rounded once.
            var xb = Tensor.FromFloats(xs, [10, 100], DType.BF16);
            float[] xbs = xb.ToFloatArray();
            float[] yb = new Dropout(0.1, new SeededRandom(4)).Apply(xb).ToFloatArray();
            double[] mb = new Dropout(0.1, new SeededRandom(4)).NextMask(1000);
            using var expected = Tensor.FromFloats([.. xbs.Select((v, i) => v * (float)mb[i])], [10, 100], DType.BF16);
            Assert.Equal(expected.ToFloatArray(), yb);
            // Rate 0 is the identity; rates outside [0, 1) are refused.
            Assert.Equal(xs, new Dropout(0, new SeededRandom(4)).Apply(x).ToFloatArray());
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(1.0, new SeededRandom(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(-0.1, new SeededRandom(1)));
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void GradientsWithDropoutMatchFloat64CentralDifferences()
    {
        var fx = Golden;
        using var model = LoadTiny(DType.F64);
        using var volume = GoldenVolume(fx);
        model.EnableFineTuning();
        var training = TrainingOptions.Train(5);
        double LossAt()
        {
            using var noGrad = new NoGradScope();
            using var l = model.Loss(volume, fx.Question, fx.Answer, training);
            return l.To(DType.F64).AsSpan<double>()[0];
        }
        using (var l = model.Loss(volume, fx.Question, fx.Answer, training)) l.Backward();

        // The masks depend only on the seed, so the loss is a smooth function of the parameters; per tensor, the
        // three elements with the largest analytic gradient are checked (step 1e-3, NMSE ≤ 1e-6, STYLE §9).
        string[] names =
        [
            "vision3d_connector.text_mlp.weight", "vision3d_connector.text_mlp.bias",
            "vision3d_connector._connector.0.weight", "vision2d_connector._connector.2.bias",
        ];
        const double h = 1e-3;
        double num2 = 0, den2 = 0;
        foreach (string name in names)
        {
            var p = model.Parameters.All.Single(t => t.Name == name);
            Assert.Equal(DType.F64, p.DType);
            double[] g = p.Grad!.To(DType.F64).AsSpan<double>().ToArray();
            foreach (int i in Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).Take(3))
            {
                var w = p.AsSpan<double>();
                double w0 = w[i];
                w[i] = w0 + h;
                double up = LossAt();
                p.AsSpan<double>()[i] = w0 - h;
                double down = LossAt();
                p.AsSpan<double>()[i] = w0;
                double numeric = (up - down) / (2 * h);
                log.WriteLine($"{name}[{i}]: analytic {g[i]:E6} numeric {numeric:E6}");
                num2 += (numeric - g[i]) * (numeric - g[i]);
                den2 += g[i] * g[i];
            }
        }
        Assert.True(den2 > 0);
        Assert.True(num2 / den2 <= 1e-6, $"NMSE {num2 / den2:E3}");
    }
}
