using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;
using SamplingOp = Med2E3.Native.Ops.Ops.Sampling;

namespace Med2E3.Native.Tests.Ops;

/// <summary>The seeded sampler's reference semantics against transformers' warpers written in double probabilities.</summary>
public class SamplingTests
{
    // Independent formula: softmax(l / t), top-k keeps values ≥ the k-th largest, top-p keeps a token while the
    // mass before it (by value desc, index asc) is < p (the first always), draw u·mass over kept tokens by index.
    private static int Formula(double[] l, double t, int k, double p, double u)
    {
        double m = l.Max();
        double kth = k > 0 && k < l.Length ? l.OrderByDescending(x => x).ElementAt(k - 1) : double.NegativeInfinity;
        var cand = Enumerable.Range(0, l.Length).Where(j => l[j] >= kth).ToArray();
        double z = cand.Sum(j => Math.Exp((l[j] - m) / t));
        var prob = new double[l.Length];
        foreach (int j in cand) prob[j] = Math.Exp((l[j] - m) / t) / z;
        var kept = new SortedSet<int>();
        double before = 0;
        foreach (int j in cand.OrderByDescending(j => l[j]).ThenBy(j => j))
        {
            if (p < 1 && kept.Count > 0 && before >= p) break;
            kept.Add(j);
            before += prob[j];
        }
        double target = u * kept.Sum(j => prob[j]), acc = 0;
        foreach (int j in kept)
        {
            acc += prob[j];
            if (target < acc) return j;
        }
        return kept.Max;
    }

    [Theory]
    [InlineData(1, 1.0, 0, 1.0)]
    [InlineData(7, 0.7, 5, 0.9)]
    [InlineData(255, 1.3, 0, 0.95)]
    [InlineData(257, 0.5, 50, 1.0)]
    [InlineData(1000, 1.0, 40, 0.8)]
    [InlineData(32064, 0.8, 0, 0.9)]
    [InlineData(32064, 1.0, 50, 0.95)]
    public void ReferenceMatchesTheFormula(int v, double t, int k, double p)
    {
        var rng = new SeededRandom(v * 31 + k);
        for (int trial = 0; trial < 20; trial++)
        {
            var l = Enumerable.Range(0, v).Select(_ => rng.NextGaussian() * 3).ToArray();
            for (int s = 0; s < 10; s++)
            {
                double u = rng.NextDouble();
                Assert.Equal(Formula(l, t, k, p, u), SamplingOp.SampleReference(l, t, k, p, u));
            }
        }
    }

    [Fact]
    public void TopKKeepsEveryTieAtTheBoundary()
    {
        double[] l = [1, 0, 1, 1, -2];  // k = 1: the three 1s stay (transformers' TopKLogitsWarper)
        Assert.Equal(0, SamplingOp.SampleReference(l, 1, 1, 1, 0.0));
        Assert.Equal(2, SamplingOp.SampleReference(l, 1, 1, 1, 0.5));
        Assert.Equal(3, SamplingOp.SampleReference(l, 1, 1, 1, 0.999));
    }

    [Fact]
    public void TopPBoundaryIsExclusiveAndTiesGoByIndex()
    {
        // Probabilities 1/2, 1/4, 1/4 (weights 2^32, 2^31, 2^31 exactly).
        double[] l = [0, Math.Log(2), 0];
        // p = 1/2: token 1 reaches it alone; the mass before token 0 (1/2) is not < 1/2, so only token 1 stays.
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 0.5, 0.999));
        // Just above 1/2: the tied token with the lower index (0) joins, token 2 does not.
        // The draw runs over the kept tokens in index order: token 0 holds [0, 1/3), token 1 [1/3, 1); never 2.
        Assert.Equal(0, SamplingOp.SampleReference(l, 1, 0, 0.5000001, 0.0));
        Assert.Equal(0, SamplingOp.SampleReference(l, 1, 0, 0.5000001, 0.333));
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 0.5000001, 0.334));
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 0.5000001, 0.999));
        // p ≤ 0 still keeps one token (min_tokens_to_keep 1).
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 0, 0.999));
    }

    [Fact]
    public void NegativeInfinityIsNeverDrawnAndInvalidLogitsAreRejected()
    {
        double[] l = [double.NegativeInfinity, 0, double.NegativeInfinity];
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 1, 0.0));
        Assert.Equal(1, SamplingOp.SampleReference(l, 1, 0, 1, 0.999));
        Assert.Equal(-1, SamplingOp.SampleReference([0, double.NaN], 1, 0, 1, 0.5));
        Assert.Equal(-1, SamplingOp.SampleReference([0, double.PositiveInfinity], 1, 0, 1, 0.5));
        Assert.Equal(-1, SamplingOp.SampleReference([double.NegativeInfinity], 1, 0, 1, 0.5));
        using var bad = Tensor.FromDoubles([0, double.NaN], [2], DType.F32);
        Assert.Throws<ArgumentException>(() => F.SampleTopP(bad, 1, 0, 1, new SeededRandom(1)));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void TensorEntryDrawsOnceAndGreedyDrawsNothing(DType dtype)
    {
        using var leaks = TensorStats.Track();
        using (var x = Tensor.Rand(5, [3001], -4, 4, dtype))
        {
            var l = x.ToDoubleArray();
            var a = new SeededRandom(9);
            var b = new SeededRandom(9);
            Assert.Equal(Array.IndexOf(l, l.Max()), F.SampleTopP(x, 0, 50, 0.9, a));
            for (int s = 0; s < 50; s++)
                Assert.Equal(SamplingOp.SampleReference(l, 0.9, 50, 0.9, b.NextDouble()), F.SampleTopP(x, 0.9, 50, 0.9, a));
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void GuardBandCheckNamesTheSide()
    {
        int n = 10;
        var buf = Enumerable.Repeat(GuardBands.Canary, n + 2 * GuardBands.Band).ToArray();
        for (int i = 0; i < n; i++) buf[GuardBands.Band + i] = i;
        Assert.Null(GuardBands.Check("op", buf));
        buf[GuardBands.Band - 1] = 0;
        Assert.Contains("BEFORE", GuardBands.Check("op", buf));
        buf[GuardBands.Band - 1] = GuardBands.Canary;
        buf[GuardBands.Band + n] = 1;
        Assert.Contains("AFTER", GuardBands.Check("op", buf));
    }
}
