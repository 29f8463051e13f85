using Med2E3.Native.Tensors;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>LayerNorm, RMSNorm and softmax (kernels/layernorm.cu, rmsnorm.cu, softmax.cu) against the CPU.</summary>
public class NormAndSoftmaxConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, int, int> NormShapes() => new()
    {
        { DType.F32, 7, 33 }, { DType.F32, 37, 768 }, { DType.F32, 3, 3072 }, { DType.F32, 1, 5 },
        { DType.BF16, 7, 33 }, { DType.BF16, 37, 1024 }, { DType.BF16, 3, 3072 },
    };

    [CudaTheory]
    [MemberData(nameof(NormShapes))]
    public void LayerNormForwardAndBackward(DType dtype, int n, int c)
    {
        Tensor[] ins = [Input(1, n, c), Input(2, c), Input(3, c), Input(4, n, c)];
        Verify(fixture, "LayerNorm", dtype, ins[..3],
            [new([n, c]), new([n], OutKind.Stat), new([n], OutKind.Stat)],
            (be, i, o) => be.LayerNorm(i[0], i[1], i[2], 1e-5, o[0], o[1], o[2]));
        Verify(fixture, "LayerNorm without affine", dtype, ins[..1],
            [new([n, c]), new([n], OutKind.Stat), new([n], OutKind.Stat)],
            (be, i, o) => be.LayerNorm(i[0], null, null, 1e-6, o[0], o[1], o[2]));
        Verify(fixture, "LayerNormBackward", dtype, ins,
            [new([n, c]), new([c]), new([c])],
            (be, i, o) =>
            {
                using var y = Tensor.Empty([n, c], i[0].DType, i[0].Device);
                using var mean = Tensor.Empty([n], Stat(i[0]), i[0].Device);
                using var rstd = Tensor.Empty([n], Stat(i[0]), i[0].Device);
                be.LayerNorm(i[0], i[1], i[2], 1e-5, y, mean, rstd);
                be.LayerNormBackward(i[0], i[1], mean, rstd, i[3], o[0], o[1], o[2]);
            });
        foreach (var t in ins) t.Dispose();
    }

    [CudaTheory]
    [MemberData(nameof(NormShapes))]
    public void RmsNormForwardAndBackward(DType dtype, int n, int c)
    {
        Tensor[] ins = [Input(5, n, c), Input(6, c), Input(7, n, c)];
        Verify(fixture, "RmsNorm", dtype, ins[..2], [new([n, c]), new([n], OutKind.Stat)],
            (be, i, o) => be.RmsNorm(i[0], i[1], 1e-5, o[0], o[1]));
        Verify(fixture, "RmsNormBackward", dtype, ins, [new([n, c]), new([c])],
            (be, i, o) =>
            {
                using var y = Tensor.Empty([n, c], i[0].DType, i[0].Device);
                using var rstd = Tensor.Empty([n], Stat(i[0]), i[0].Device);
                be.RmsNorm(i[0], i[1], 1e-5, y, rstd);
                be.RmsNormBackward(i[0], i[1], rstd, i[2], o[0], o[1]);
            });
        foreach (var t in ins) t.Dispose();
    }

    public static TheoryData<DType, bool, bool> SoftmaxModes() => new()
    {
        { DType.F32, false, false }, { DType.F32, true, false }, { DType.F32, false, true }, { DType.F32, true, true },
        { DType.BF16, true, true }, { DType.BF16, false, false },
    };

    [CudaTheory]
    [MemberData(nameof(SoftmaxModes))]
    public void SoftmaxWithMaskAndCausal(DType dtype, bool mask, bool causal)
    {
        const int b = 2, h = 3, tq = 5, tk = 67;
        using var x = Input(8, b, h, tq, tk);
        using var m = MaskOf(9, b, tk);
        using var dy = Input(10, b, h, tq, tk);
        Tensor[] ins = mask ? [x, m] : [x];
        Verify(fixture, "Softmax", dtype, ins, [new([b, h, tq, tk])],
            (be, i, o) => be.Softmax(i[0], mask ? i[1] : null, causal, mask ? b : 1, causal ? tq : 1, o[0]));
        Verify(fixture, "SoftmaxBackward", dtype, [x, dy], [new([b, h, tq, tk])],
            (be, i, o) =>
            {
                using var y = Tensor.Empty([b, h, tq, tk], i[0].DType, i[0].Device);
                be.Softmax(i[0], null, causal, 1, causal ? tq : 1, y);
                be.SoftmaxBackward(y, i[1], o[0]);
            });
    }

    /// <summary>An additive key mask: 0 on kept keys, −1e9 on every third key (never a whole row).</summary>
    internal static Tensor MaskOf(long seed, int b, int tk)
    {
        var v = new double[b * tk];
        for (int i = 0; i < v.Length; i++) v[i] = (i + seed) % 3 == 0 ? -1e9 : 0;
        return Tensor.FromDoubles(v, [b, tk], DType.F64);
    }

    internal static DType Stat(Tensor x) => x.DType == DType.F64 ? DType.F64 : DType.F32;
}
