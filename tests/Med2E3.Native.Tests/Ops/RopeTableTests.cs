using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using RopeOp = Med2E3.Native.Ops.Ops.Rope;

namespace Med2E3.Native.Tests.Ops;

public class RopeTableTests
{
    [Fact]
    public void AttentionFactorMatchesSpec()
    {
        // spec §6.3: √(1 + ln(131072/4096)/ln(4096)) = √(17/12).
        Assert.Equal(Math.Sqrt(17.0 / 12), RopeOp.LongRopeAttentionFactor(131072, 4096), 12);
        Assert.Equal(1.0, RopeOp.LongRopeAttentionFactor(4096, 4096));
    }

    [Fact]
    public void FactorChoiceFollowsSequenceLength()
    {
        double[] s = [1], l = [2];
        Assert.Same(s, RopeOp.SelectFactors(4096, 4096, s, l));
        Assert.Same(l, RopeOp.SelectFactors(4097, 4096, s, l));
    }

    [Fact]
    public void TablesMatchTheFormula()
    {
        double[] f = [1.1, 1.3, 2.0, 2.45, 3.05];
        double a = Math.Sqrt(17.0 / 12);
        var (cos, sin) = F.RopeTables(7, 4, 10, 10000, f, a, DType.F64);
        using (cos)
        using (sin)
        {
            var c = cos.ToDoubleArray();
            var s = sin.ToDoubleArray();
            for (int p = 0; p < 4; p++)
                for (int j = 0; j < 10; j++)
                {
                    double inv = 1.0 / (f[j % 5] * Math.Pow(10000, 2.0 * (j % 5) / 10));
                    Assert.Equal(a * Math.Cos((7 + p) * inv), c[p * 10 + j], 5);
                    Assert.Equal(a * Math.Sin((7 + p) * inv), s[p * 10 + j], 5);
                }
        }
    }
}

public class RmsNormHalfTests
{
    [Fact]
    public void Bf16RoundsTheNormalisedValueBeforeTheWeight()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(3, [4, 64]).To(DType.BF16);
        var w = Tensor.Randn(4, [64]).To(DType.BF16);
        var y = F.RmsNorm(x, w, 1e-5).ToFloatArray();
        var xs = x.ToFloatArray();
        var ws = w.ToFloatArray();
        for (int r = 0; r < 4; r++)
        {
            double ms = 0;
            for (int i = 0; i < 64; i++) ms += (double)xs[r * 64 + i] * xs[r * 64 + i];
            float rs = (float)(1 / Math.Sqrt(ms / 64 + 1e-5));
            for (int i = 0; i < 64; i++)
            {
                float h = Precision.RoundToBf16(xs[r * 64 + i] * rs);
                float expect = Precision.RoundToBf16(h * ws[i]);
                Assert.Equal(expect, y[r * 64 + i]);
            }
        }
    }
}
