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
