using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Pointwise functions, gated SiLU, broadcasting binary ops, α·x + β, axis reductions, copies, fills and products
/// (kernels/activations.cu, strided.cu, reduce.cu, cast.cu, cuBLAS) against the CPU references.
/// </summary>
public class PointwiseConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, UnaryOp> UnaryCases()
    {
        var data = new TheoryData<DType, UnaryOp>();
        foreach (var dt in new[] { DType.F32, DType.BF16 })
            foreach (var op in Enum.GetValues<UnaryOp>()) data.Add(dt, op);
        return data;
    }

    [CudaTheory]
    [MemberData(nameof(UnaryCases))]
    public void UnaryForwardAndBackward(DType dtype, UnaryOp op)
    {
        const int n = 100_003;  // odd: the scalar tail of the vector loop runs
        // log and sqrt get positive inputs; relu's kink at 0 is never hit by these values.
        bool positive = op is UnaryOp.Log or UnaryOp.Sqrt;
        using var x = Tensor.Rand(22, [n], positive ? 0.1 : -4, 4, DType.F64);
        using var dy = Input(23, n);
        Verify(fixture, $"{op}", dtype, [x], [new([n], Tol: Check.Elementwise)],
            (be, i, o) => be.Unary(op, i[0], o[0]));
        Verify(fixture, $"{op} backward", dtype, [x, dy], [new([n], Tol: Check.Elementwise)],
            (be, i, o) => be.UnaryBackward(op, i[0], i[1], o[0]));
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void GatedSiluForwardAndBackward(DType dtype)
    {
        const int rows = 13, f = 8192 + 3;
        using var gu = Tensor.Rand(24, [rows, 2 * f], -6, 6, DType.F64);
        using var da = Input(25, rows, f);
        Verify(fixture, "GatedSilu", dtype, [gu], [new([rows, f], Tol: Check.Elementwise)],
            (be, i, o) => be.GatedSilu(i[0], o[0]));
        Verify(fixture, "GatedSiluBackward", dtype, [gu, da], [new([rows, 2 * f], Tol: Check.Elementwise)],
            (be, i, o) => be.GatedSiluBackward(i[0], i[1], o[0]));
    }

    [CudaTheory]
    [InlineData(DType.F32, BinaryOp.Add)]
    [InlineData(DType.F32, BinaryOp.Sub)]
    [InlineData(DType.F32, BinaryOp.Mul)]
    [InlineData(DType.F32, BinaryOp.Div)]
    [InlineData(DType.BF16, BinaryOp.Mul)]
    public void BinaryBroadcastsThroughStrides(DType dtype, BinaryOp op)
    {
        // a (4, 1, 7, 9) against b (5, 7, 1): both broadcast to y (4, 5, 7, 9) with zero strides.
        using var a = Input(26, 4, 1, 7, 9);
        using var b = Tensor.Rand(27, [5, 7, 1], 0.5, 2, DType.F64);
        Verify(fixture, $"{op}", dtype, [a, b], [new([4, 5, 7, 9], Tol: Check.Elementwise)], (be, i, o) =>
        {
            using var ea = i[0].Expand(4, 5, 7, 9);
            using var eb = i[1].Expand(4, 5, 7, 9);
            be.Binary(op, ea, eb, o[0]);
        });
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void ScaleShift(DType dtype)
    {
        using var x = Input(28, 1001);
        Verify(fixture, "Scale", dtype, [x], [new([1001], Tol: Check.Elementwise)],
            (be, i, o) => be.Scale(i[0], -1.75, 0.5, o[0]));
    }

    [CudaTheory]
    [InlineData(DType.F32, ReduceOp.Sum, 3, 1000, 1)]
    [InlineData(DType.F32, ReduceOp.Mean, 6, 320, 3072)]
    [InlineData(DType.F32, ReduceOp.Sum, 5, 7, 33)]
    [InlineData(DType.BF16, ReduceOp.Mean, 4, 320, 768)]
    [InlineData(DType.BF16, ReduceOp.Sum, 9, 513, 1)]
    public void ReduceOverAnAxis(DType dtype, ReduceOp op, int outer, int r, int inner)
    {
        using var x = Input(29, outer, r, inner);
        Verify(fixture, $"Reduce {op}", dtype, [x], [new([outer, inner])],
            (be, i, o) => be.Reduce(op, i[0], outer, r, inner, o[0]));
    }

    public static TheoryData<DType, DType> CastPairs()
    {
        var data = new TheoryData<DType, DType>();
        DType[] types = [DType.F32, DType.BF16, DType.F16, DType.I32, DType.I64, DType.Bool, DType.F64];
        foreach (var s in types)
            foreach (var d in types) data.Add(s, d);
        return data;
    }

    [CudaTheory]
    [MemberData(nameof(CastPairs))]
    public void StridedCopyConvertsEveryDtypePair(DType from, DType to)
    {
        // A transposed view (non-contiguous source) copied into a contiguous destination of another dtype, the
        // same way TensorMath.CpuCopy does it on the host.
        using var master = Tensor.Rand(30, [17, 23], -300, 300, DType.F64);
        using var src = master.To(from);
        using var view = src.Permute(1, 0);
        using var want = Tensor.Empty([23, 17], to);
        CpuBackendCopy(view, want);
        var be = Backend(fixture);
        using var dsrc = src.To(be.TensorDevice);
        using var dview = dsrc.Permute(1, 0);
        using var got = Tensor.Empty([23, 17], to, be.TensorDevice);
        be.Copy(dview, got);
        Compare($"Copy {from} → {to}", got.ToDoubleArray(), want.ToDoubleArray(), Check.Exact);
    }

    private static void CpuBackendCopy(Tensor src, Tensor dst) => Med2E3.Native.Ops.CpuBackend.Instance.Copy(src, dst);

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.I64)]
    [InlineData(DType.Bool)]
    public void FillAStridedView(DType dtype)
    {
        var be = Backend(fixture);
        using var t = Tensor.Zeros([6, 10], dtype, be.TensorDevice);
        using var view = t.Narrow(1, 2, 5);
        be.Fill(view, 3);
        // The CPU backend defines the conversion of the value (3 for numbers, true for bool).
        using var want = Tensor.Zeros([6, 10], dtype);
        using var wantView = want.Narrow(1, 2, 5);
        Med2E3.Native.Ops.CpuBackend.Instance.Fill(wantView, 3);
        double[] got = t.ToDoubleArray(), expected = want.ToDoubleArray();
        for (int i = 0; i < got.Length; i++)
        {
            Assert.Equal(i % 10 is >= 2 and < 7 ? (dtype == DType.Bool ? 1.0 : 3.0) : 0.0, expected[i]);
            Assert.Equal(expected[i], got[i]);
        }
    }

    public static TheoryData<DType, bool, bool, bool, int> MatMulCases() => new()
    {
        // dtype, transA, transB, bias, batch: a Linear (transB + bias), plain, transposed, batched with a shared B
        { DType.F32, false, true, true, 1 }, { DType.F32, false, false, false, 1 }, { DType.F32, true, false, true, 1 },
        { DType.F32, false, true, false, 3 }, { DType.BF16, false, true, true, 1 },
        { DType.BF16, false, false, false, 4 },
    };

    [CudaTheory]
    [MemberData(nameof(MatMulCases))]
    public void MatMulWithBiasTransposesAndBatches(DType dtype, bool transA, bool transB, bool bias, int batch)
    {
        const int m = 37, n = 45, k = 67;
        using var a = Input(31, batch, transA ? k : m, transA ? m : k);
        using var b = Input(32, 1, transB ? n : k, transB ? k : n);
        using var c0 = Input(33, n);
        Tensor[] ins = bias ? [a, b, c0] : [a, b];
        Verify(fixture, "MatMul", dtype, ins, [new([batch, m, n])],
            (be, i, o) => be.MatMul(i[0], transA, i[1], transB, o[0], bias ? i[2] : null, 1, 0));
    }

    [CudaFact]
    public void MatMulWithIntegerInputsIsExact()
    {
        // STYLE.md §9: integer-valued inputs in [−8, 8] make every product and sum exact in f32.
        const int m = 19, n = 23, k = 31;
        using var a = Tensor.RandInt(34, [1, m, k], -8, 9, DType.F64);
        using var b = Tensor.RandInt(35, [1, n, k], -8, 9, DType.F64);
        Verify(fixture, "MatMul integers", DType.F32, [a, b], [new([1, m, n], Tol: Check.Exact)],
            (be, i, o) => be.MatMul(i[0], false, i[1], true, o[0], null, 1, 0));
    }
}
