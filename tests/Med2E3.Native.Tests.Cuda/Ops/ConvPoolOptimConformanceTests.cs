using Med2E3.Native.Tensors;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Conv3d, AvgPool3d (forward and backward), AdamW and the gradient sum of squares (kernels/conv3d.cu, pool.cu,
/// adamw.cu) against the CPU references.
/// </summary>
public class ConvPoolOptimConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, int, int, int, int, int> ConvCases() => new()
    {
        // dtype, Ci, Co, kernel, stride, padding
        { DType.F32, 3, 20, 3, 1, 1 }, { DType.F32, 2, 17, 3, 2, 0 }, { DType.F32, 1, 5, 4, 4, 0 },
        { DType.F32, 19, 3, 2, 1, 1 }, { DType.BF16, 3, 20, 3, 1, 1 },
    };

    [CudaTheory]
    [MemberData(nameof(ConvCases))]
    public void Conv3dForwardAndBackward(DType dtype, int ci, int co, int kernel, int stride, int padding)
    {
        const int n = 2, d = 9, h = 11, w = 13;
        int[] s = [stride, stride, stride], p = [padding, padding, padding];
        int od = (d + 2 * padding - kernel) / stride + 1, oh = (h + 2 * padding - kernel) / stride + 1;
        int ow = (w + 2 * padding - kernel) / stride + 1;
        using var x = Input(60, n, ci, d, h, w);
        using var wt = Input(61, co, ci, kernel, kernel, kernel);
        using var bias = Input(62, co);
        using var dy = Input(63, n, co, od, oh, ow);
        Verify(fixture, "Conv3d", dtype, [x, wt, bias], [new([n, co, od, oh, ow])],
            (be, i, o) => be.Conv3d(i[0], i[1], i[2], s, p, o[0]));
        Verify(fixture, "Conv3dBackward", dtype, [x, wt, dy],
            [new([n, ci, d, h, w]), new([co, ci, kernel, kernel, kernel]), new([co])],
            (be, i, o) => be.Conv3dBackward(i[0], i[1], i[2], s, p, o[0], o[1], o[2]));
    }

    [CudaTheory]
    [InlineData(DType.F32, 2, 2)]
    [InlineData(DType.F32, 3, 2)]
    [InlineData(DType.BF16, 2, 2)]
    public void AvgPool3dForwardAndBackward(DType dtype, int kernel, int stride)
    {
        const int b = 2, c = 5, d = 8, h = 9, w = 17;  // odd extents: trailing elements fit no window
        int[] k = [kernel, kernel, kernel], s = [stride, stride, stride];
        int od = (d - kernel) / stride + 1, oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1;
        using var x = Input(64, b, c, d, h, w);
        using var dy = Input(65, b, c, od, oh, ow);
        Verify(fixture, "AvgPool3d", dtype, [x], [new([b, c, od, oh, ow])],
            (be, i, o) => be.AvgPool3d(i[0], k, s, o[0]));
        Verify(fixture, "AvgPool3dBackward", dtype, [dy], [new([b, c, d, h, w])],
            (be, i, o) => be.AvgPool3dBackward(i[0], k, s, o[0]));
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void AdamWStepMatchesTheReference(DType dtype)
    {
        const int n = 10_007;
        var hp = new AdamWParams(1e-3, 0.9, 0.999, 1e-8, 0.01, 7);
        using var param = Input(66, n);
        using var grad = Input(67, n);
        using var m = Input(68, n);
        using var v = Tensor.Rand(69, [n], 0, 1e-3, DType.F64);
        // The step mutates param, m and v; the case copies them into the outputs afterwards.
        Verify(fixture, "AdamW", dtype, [param, grad, m, v], [new([n]), new([n]), new([n])], (be, i, o) =>
        {
            using var p = i[0].Clone();
            using var mm = i[2].Clone();
            using var vv = i[3].Clone();
            be.AdamW(p, i[1], mm, vv, hp);
            be.Copy(p, o[0]);
            be.Copy(mm, o[1]);
            be.Copy(vv, o[2]);
        });
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void SumOfSquares(DType dtype)
    {
        using var master = Input(70, 123_457);
        using var x = master.To(dtype);
        var be = Backend(fixture);
        using var dx = x.To(be.TensorDevice);
        double want = Med2E3.Native.Ops.CpuBackend.Instance.SumOfSquares(x);
        double got = be.SumOfSquares(dx);
        Assert.True(Math.Abs(got - want) <= 1e-6 * want, $"SumOfSquares {dtype}: got {got}, want {want}");
    }
}
