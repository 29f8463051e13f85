using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using SamplingOp = Med2E3.Native.Ops.Ops.Sampling;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// sample_topp_fwd_* (kernels/sampling.cu) against Sampling.SampleReference: same logits, same seeded draws, same
/// token. The integer weights make the sums order-free, so the ids must be equal; a mismatch could only come from
/// exp differing in its last bit across a rounding midpoint of w·2^32, which these seeds do not hit.
/// </summary>
public class SampleTopPConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, int, int, double, bool> Cases() => new()
    {
        { DType.F32, 1, 0, 1.0, false },
        { DType.F32, 7, 5, 0.9, false },
        { DType.F32, 255, 0, 0.95, true },
        { DType.F32, 257, 50, 1.0, true },
        { DType.F32, 1000, 40, 0.8, false },
        { DType.F32, 32064, 0, 0.9, false },
        { DType.F32, 32064, 50, 0.95, true },
        { DType.F32, 32064, 1024, 0.5, false },
        { DType.F32, 32064, 0, 1.0, true },
        { DType.BF16, 32064, 50, 0.9, false },
        { DType.BF16, 32064, 0, 0.7, true },
    };

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void SameTokenAsTheCpuReference(DType dtype, int v, int topK, double topP, bool ties)
    {
        var cuda = OpConformance.Backend(fixture);
        using var leaks = TensorStats.Track();
        var gen = new SeededRandom(v + topK);
        for (int trial = 0; trial < 8; trial++)
        {
            // Ties: logits on a coarse grid (quarter steps), with some −inf entries; else Gaussian logits.
            var l = Enumerable.Range(0, v)
                .Select(_ => ties ? gen.NextLong(-8, 8) / 4.0 : gen.NextGaussian() * 3).ToArray();
            if (ties && v > 3) l[gen.NextLong(0, v)] = double.NegativeInfinity;
            using var host = Tensor.FromDoubles(l, [v], dtype);
            using var device = host.To(cuda.TensorDevice);
            double[] exact = host.ToDoubleArray();
            double t = 0.5 + trial * 0.2;
            for (int seed = 0; seed < 25; seed++)
            {
                var a = new SeededRandom(seed);
                var b = new SeededRandom(seed);
                int want = SamplingOp.SampleReference(exact, t, topK, topP, a.NextDouble());
                int got = F.SampleTopP(device, t, topK, topP, b);
                Assert.True(want == got,
                    $"{dtype.Name()} V={v} k={topK} p={topP} t={t} trial {trial} seed {seed}: cpu {want}, cuda {got}");
            }
        }
        Assert.Equal(0, leaks.Live);
    }

    [CudaFact]
    public void InvalidLogitsThrowLikeTheCpu()
    {
        var cuda = OpConformance.Backend(fixture);
        using var host = Tensor.FromDoubles([0, double.NaN, 1], [3], DType.F32);
        using var device = host.To(cuda.TensorDevice);
        Assert.Throws<ArgumentException>(() => F.SampleTopP(device, 1, 0, 1, new SeededRandom(1)));
    }
}
