using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Ops;

public class OpsSmokeTests
{
    [Fact]
    public void LinearMatchesDirectFormula()
    {
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.Randn(1, [5, 7]);
            var w = Tensor.Randn(2, [3, 7]);
            var b = Tensor.Randn(3, [3]);
            var y = F.Linear(x, w, b).ToFloatArray();
            var xa = x.ToFloatArray();
            var wa = w.ToFloatArray();
            var ba = b.ToFloatArray();
            for (int i = 0; i < 5; i++)
                for (int o = 0; o < 3; o++)
                {
                    double r = ba[o];
                    for (int k = 0; k < 7; k++) r += (double)xa[i * 7 + k] * wa[o * 7 + k];
                    Assert.True(Math.Abs(y[i * 3 + o] - r) <= 1e-5 + 1e-4 * Math.Abs(r), $"{i},{o}: {y[i * 3 + o]} vs {r}");
                }
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void ErfMatchesKnownValues()
    {
        (double X, double Erf, double Erfc)[] cases =
        [
            (-5, -0.9999999999984626, 1.9999999999984626), (-3.3, -0.9999969422902035, 1.9999969422902035),
            (-1, -0.8427007929497149, 1.842700792949715), (-0.47, -0.4937450508860821, 1.4937450508860821),
            (-0.3, -0.3286267594591274, 1.3286267594591274), (0.001, 0.0011283787909692365, 0.9988716212090307),
            (0.2, 0.22270258921047847, 0.7772974107895215), (0.46875, 0.49261347321793797, 0.507386526782062),
            (0.5, 0.5204998778130465, 0.4795001221869535), (0.9, 0.7969082124228322, 0.20309178757716786),
            (1.5, 0.9661051464753108, 0.033894853524689274), (2.7, 0.9998656672600594, 0.00013433273994052422),
            (3.99, 0.9999999832607886, 1.6739211364520814e-08), (4.0, 0.9999999845827421, 1.541725790028002e-08),
            (4.5, 0.9999999998033839, 1.9661604415428873e-10), (6.0, 1.0, 2.1519736712498916e-17),
        ];
        foreach (var (x, erf, erfc) in cases)
        {
            Assert.True(Math.Abs(Med2E3.Native.Ops.Ops.Erf.Eval(x) - erf) <= 2e-16 * Math.Max(1, Math.Abs(erf)) + 1e-300, $"erf({x})");
            Assert.True(Math.Abs(Med2E3.Native.Ops.Ops.Erf.Erfc(x) - erfc) <= 1e-14 * Math.Abs(erfc), $"erfc({x}) = {Med2E3.Native.Ops.Ops.Erf.Erfc(x)} vs {erfc}");
        }
    }
}
