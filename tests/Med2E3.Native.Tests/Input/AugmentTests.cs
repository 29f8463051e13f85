using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Input;

/// <summary>The training-time augmentations (spec §9) against direct index formulas and over many seeds.</summary>
public class AugmentTests(ITestOutputHelper log)
{
    private const int D = 3, H = 4, W = 5;

    /// <summary>Distinct, asymmetric values: every voxel differs, so any index mix-up shows.</summary>
    private static float[] Volume(int d = D, int h = H, int w = W) =>
        [.. Enumerable.Range(0, d * h * w).Select(i => (float)(0.37 * i * i % 1.0) + i)];

    [Fact]
    public void Rotate90MatchesNumpyRot90AndFourTurnsAreTheIdentity()
    {
        float[] x = Volume();
        int h = H, w = W;
        float[] r = Augment.Rotate90(x, D, ref h, ref w, 1);
        Assert.Equal((W, H), (h, w));
        // numpy rot90(x, 1, axes=(1, 2)) = swapaxes(flip(x, 2), 1, 2): out[d, i, j] = x[d, j, W − 1 − i].
        for (int d = 0; d < D; d++)
        for (int i = 0; i < W; i++)
        for (int j = 0; j < H; j++)
            Assert.Equal(x[(d * H + j) * W + (W - 1 - i)], r[(d * W + i) * H + j]);
        // 2D check against numpy: rot90([[1, 2], [3, 4]]) = [[2, 4], [1, 3]].
        int h2 = 2, w2 = 2;
        Assert.Equal([2f, 4f, 1f, 3f], Augment.Rotate90([1f, 2f, 3f, 4f], 1, ref h2, ref w2, 1));

        int hh = H, ww = W;
        float[] twice = Augment.Rotate90(x, D, ref hh, ref ww, 2);
        Assert.Equal((H, W), (hh, ww));
        for (int d = 0; d < D; d++)
        for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            Assert.Equal(x[(d * H + H - 1 - i) * W + (W - 1 - j)], twice[(d * H + i) * W + j]);

        int h4 = H, w4 = W;
        float[] four = Augment.Rotate90(x, D, ref h4, ref w4, 4);
        Assert.Equal((H, W), (h4, w4));
        Assert.Equal(x, four);
        int h3 = H, w3 = W;
        float[] three = Augment.Rotate90(x, D, ref h3, ref w3, 3);
        Assert.Equal(x, Augment.Rotate90(three, D, ref h3, ref w3, 1));
        int hn = H, wn = W;
        Assert.Equal(three, Augment.Rotate90(x, D, ref hn, ref wn, -1));                   // k = −1 ≡ 3
        Assert.Equal((W, H), (hn, wn));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void FlipsReverseOneAxisAndAreInvolutions(int axis)
    {
        float[] x = Volume();
        float[] f = Augment.Flip(x, D, H, W, axis);
        Assert.NotEqual(x, f);
        Assert.Equal(x, Augment.Flip(f, D, H, W, axis));
        for (int d = 0; d < D; d++)
        for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
        {
            int sd = axis == 0 ? D - 1 - d : d, si = axis == 1 ? H - 1 - i : i, sj = axis == 2 ? W - 1 - j : j;
            Assert.Equal(x[(sd * H + si) * W + sj], f[(d * H + i) * W + j]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Augment.Flip(x, D, H, W, 3));
    }

    [Fact]
    public void IntensityScaleAndShiftAreExactFloat32()
    {
        float[] x = Volume();
        float[] s = (float[])x.Clone();
        Augment.ScaleIntensity(s, -0.0731);
        float m = (float)(1 - 0.0731);
        Assert.Equal(x.Select(v => v * m), s);
        float[] t = (float[])x.Clone();
        Augment.ShiftIntensity(t, 0.0412);
        Assert.Equal(x.Select(v => v + 0.0412f), t);
    }

    [Fact]
    public void DisabledOptionsChangeNothing()
    {
        float[] x = Volume();
        foreach (var options in new AugmentOptions?[] { null, new AugmentOptions(), AugmentOptions.Training with { Enabled = false } })
        {
            for (long seed = 0; seed < 20; seed++)
            {
                var r = Augment.Apply(x, D, H, W, seed, options);
                Assert.Equal(x, r.Data);
                Assert.NotSame(x, r.Data);
                Assert.Equal((D, H, W), (r.Depth, r.Height, r.Width));
                Assert.True(r.Applied.IsIdentity);
                Assert.Equal("none", r.Applied.ToString());
            }
        }
        Assert.Throws<ArgumentException>(() => Augment.Apply(x, D, H, W + 1, 0, AugmentOptions.Training));
    }

    [Fact]
    public void ApplyFollowsItsRecordAndIsSeeded()
    {
        float[] x = Volume(2, 6, 6);
        for (long seed = 0; seed < 200; seed++)
        {
            var r = Augment.Apply(x, 2, 6, 6, seed, AugmentOptions.Training);
            var again = Augment.Apply(x, 2, 6, 6, seed, AugmentOptions.Training);
            Assert.Equal(r.Data, again.Data);
            Assert.Equal(r.Applied, again.Applied);
            // Replaying the record with the building blocks, in the spec's order, gives the same voxels.
            var a = r.Applied;
            int h = 6, w = 6;
            float[] y = a.Rotate90K == 0 ? (float[])x.Clone() : Augment.Rotate90(x, 2, ref h, ref w, a.Rotate90K);
            if (a.FlipDepth) y = Augment.Flip(y, 2, h, w, 0);
            if (a.FlipHeight) y = Augment.Flip(y, 2, h, w, 1);
            if (a.FlipWidth) y = Augment.Flip(y, 2, h, w, 2);
            if (a.ScaleFactor is double f)
            {
                Assert.InRange(f, -0.1, 0.1);
                Augment.ScaleIntensity(y, f);
            }
            if (a.ShiftOffset is double o)
            {
                Assert.InRange(o, -0.1, 0.1);
                Augment.ShiftIntensity(y, o);
            }
            Assert.Equal(y, r.Data);
        }
    }

    [Fact]
    public void ProbabilitiesAreRespectedOverSeeds()
    {
        const int n = 4000;
        float[] x = Volume(2, 3, 3);
        int rot = 0, flipD = 0, flipH = 0, flipW = 0, scale = 0, shift = 0;
        var ks = new int[4];
        double scaleSum = 0, shiftSum = 0;
        var rng = new SeededRandom(2024);
        for (int i = 0; i < n; i++)
        {
            var a = Augment.Apply(x, 2, 3, 3, rng, AugmentOptions.Training).Applied;
            ks[a.Rotate90K]++;
            if (a.Rotate90K != 0) rot++;
            if (a.FlipDepth) flipD++;
            if (a.FlipHeight) flipH++;
            if (a.FlipWidth) flipW++;
            if (a.ScaleFactor is double f) { scale++; scaleSum += f; }
            if (a.ShiftOffset is double o) { shift++; shiftSum += o; }
        }
        log.WriteLine($"rot {rot} k {ks[1]}/{ks[2]}/{ks[3]}, flips {flipD}/{flipH}/{flipW}, scale {scale}, shift {shift} of {n}");
        // Binomial counts within 5 standard deviations of n·p.
        void Near(int count, double p, int trials)
        {
            double sd = Math.Sqrt(trials * p * (1 - p));
            Assert.InRange(count, trials * p - 5 * sd, trials * p + 5 * sd);
        }
        Near(rot, 0.5, n);
        foreach (int k in new[] { 1, 2, 3 }) Near(ks[k], 1.0 / 3, rot);
        Near(flipD, 0.1, n);
        Near(flipH, 0.1, n);
        Near(flipW, 0.1, n);
        Near(scale, 0.5, n);
        Near(shift, 0.5, n);
        // U(−0.1, 0.1) has mean 0 and sd 0.1/√3.
        Assert.InRange(scaleSum / scale, -5 * 0.0577 / Math.Sqrt(scale), 5 * 0.0577 / Math.Sqrt(scale));
        Assert.InRange(shiftSum / shift, -5 * 0.0577 / Math.Sqrt(shift), 5 * 0.0577 / Math.Sqrt(shift));
        // Probability 0 and 1 are exact.
        var never = Augment.Apply(x, 2, 3, 3, 9, new AugmentOptions
        {
            Enabled = true, Rotate90Probability = 0, FlipProbability = 0, ScaleIntensityProbability = 0, ShiftIntensityProbability = 0,
        });
        Assert.True(never.Applied.IsIdentity);
        Assert.Equal(x, never.Data);
        var always = Augment.Apply(x, 2, 3, 3, 9, new AugmentOptions
        {
            Enabled = true, Rotate90Probability = 1, FlipProbability = 1, ScaleIntensityProbability = 1, ShiftIntensityProbability = 1,
        }).Applied;
        Assert.True(always.Rotate90K > 0 && always.FlipDepth && always.FlipHeight && always.FlipWidth);
        Assert.NotNull(always.ScaleFactor);
        Assert.NotNull(always.ShiftOffset);
    }
}
