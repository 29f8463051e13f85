using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>Attention (prefill tiles, split-K decode, backward) and RoPE (kernels/attention.cu, rope.cu).</summary>
public class AttentionConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, int, int, int, int, int, bool, bool> Cases() => new()
    {
        // dtype, B, H, Tq, Tk, Dh, causal, mask: odd sizes, the model's head dims, the tiny model's, decode
        { DType.F32, 2, 3, 33, 47, 64, false, true },
        { DType.F32, 1, 2, 70, 70, 96, true, false },
        { DType.F32, 1, 4, 17, 17, 12, true, false },
        { DType.F32, 2, 2, 9, 40, 10, true, true },
        { DType.F32, 1, 32, 1, 300, 96, true, false },
        { DType.F32, 2, 2, 1, 77, 64, false, true },
        { DType.F32, 1, 2, 5, 5, 128, false, false },
        { DType.BF16, 2, 3, 33, 47, 64, false, true },
        { DType.BF16, 1, 2, 70, 70, 96, true, false },
        { DType.BF16, 1, 8, 1, 600, 96, true, false },
    };

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void AttentionForward(DType dtype, int b, int h, int tq, int tk, int dh, bool causal, bool mask)
    {
        using var q = Input(11, b, h, tq, dh);
        using var k = Input(12, b, h, tk, dh);
        using var v = Input(13, b, h, tk, dh);
        using var m = NormAndSoftmaxConformanceTests.MaskOf(14, b, tk);
        Tensor[] ins = mask ? [q, k, v, m] : [q, k, v];
        Verify(fixture, "Attention", dtype, ins, [new([b, h, tq, dh]), new([b, h, tq], OutKind.Stat)],
            (be, i, o) => be.Attention(i[0], i[1], i[2], mask ? i[3] : null, causal, 1 / Math.Sqrt(dh), o[0], o[1]));
    }

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void AttentionBackward(DType dtype, int b, int h, int tq, int tk, int dh, bool causal, bool mask)
    {
        if (dh > 96) return;  // the backward kernels take Dh ≤ 96 (the model's largest); the backend refuses more
        using var q = Input(15, b, h, tq, dh);
        using var k = Input(16, b, h, tk, dh);
        using var v = Input(17, b, h, tk, dh);
        using var dO = Input(18, b, h, tq, dh);
        using var m = NormAndSoftmaxConformanceTests.MaskOf(19, b, tk);
        Tensor[] ins = mask ? [q, k, v, dO, m] : [q, k, v, dO];
        Verify(fixture, "AttentionBackward", dtype, ins,
            [new([b, h, tq, dh]), new([b, h, tk, dh]), new([b, h, tk, dh])],
            (be, i, o) =>
            {
                var mk = mask ? i[4] : null;
                double scale = 1 / Math.Sqrt(dh);
                using var out0 = Tensor.Empty([b, h, tq, dh], i[0].DType, i[0].Device);
                using var lse = Tensor.Empty([b, h, tq], NormAndSoftmaxConformanceTests.Stat(i[0]), i[0].Device);
                be.Attention(i[0], i[1], i[2], mk, causal, scale, out0, lse);
                be.AttentionBackward(i[0], i[1], i[2], mk, causal, scale, out0, lse, i[3], o[0], o[1], o[2]);
            });
    }

    [CudaFact]
    public void AttentionReadsStridedViewsOfAFusedQkvBuffer()
    {
        // (B, T, 3, H, Dh) as produced by one qkv GEMM; q, k, v are permuted views with a non-contiguous token stride.
        const int b = 1, t = 29, h = 4, dh = 64;
        using var qkv = Input(20, b, t, 3, h, dh);
        Verify(fixture, "Attention on qkv views", DType.F32, [qkv], [new([b, h, t, dh]), new([b, h, t], OutKind.Stat)],
            (be, i, o) =>
            {
                using var perm = i[0].Permute(2, 0, 3, 1, 4);  // (3, B, H, T, Dh)
                using var q = perm.Narrow(0, 0, 1).Reshape(b, h, t, dh);
                using var k = perm.Narrow(0, 1, 1).Reshape(b, h, t, dh);
                using var v = perm.Narrow(0, 2, 1).Reshape(b, h, t, dh);
                be.Attention(q, k, v, null, true, 0.125, o[0], o[1]);
            });
    }

    public static TheoryData<DType, bool> RopeModes() => new()
    {
        { DType.F32, false }, { DType.F32, true }, { DType.BF16, false }, { DType.BF16, true },
    };

    [CudaTheory]
    [MemberData(nameof(RopeModes))]
    public void RopeWithLongRopeTables(DType dtype, bool backward)
    {
        const int r = 6, t = 37, dh = 96;
        double[] factors = Enumerable.Range(0, dh / 2).Select(i => 1.0 + 0.05 * i).ToArray();
        double attention = Med2E3.Native.Ops.Ops.Rope.LongRopeAttentionFactor(131072, 4096);
        var (cos, sin) = Med2E3.Native.Ops.Ops.Rope.Tables(40, t, dh, 10000, factors, attention, DType.F64);
        using (cos)
        using (sin)
        using (var x = Input(21, r, t, dh))
        {
            Verify(fixture, "Rope", dtype, [x, cos, sin], [new([r, t, dh], Tol: Check.Elementwise)],
                (be, i, o) => be.Rope(i[0], i[1], i[2], o[0], backward));
        }
    }
}
