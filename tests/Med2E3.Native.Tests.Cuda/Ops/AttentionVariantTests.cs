using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Cuda.Runtime;
using Med2E3.Native.Tests.Shared;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// The attention kernels the backend does not launch by default, each forced through
/// <see cref="CudaBackend.AttentionKernelOverride"/> and checked against <c>Attention.Reference</c> by the shared
/// bf16 rule: the tensor-core prefill variants (<c>attention_fwd_bf16_v2</c>, <c>_v3</c>, <c>_v4</c>) and the
/// streaming decode (<c>attention_decode_bf16_v2</c>), at the model's head dims, lengths that are not multiples of the
/// tiles, causal and not, with key masks (also removing every key of a row), on views of a fused qkv buffer and of a
/// KV cache; and the per-regime selection that <see cref="CudaBackend.TensorCoreAttention"/> and
/// <see cref="CudaBackend.StreamingDecodeAttention"/> switch on.
/// </summary>
public class AttentionVariantTests(TestDevice fixture)
{
    private CudaBackend Cuda => Backend(fixture);

    public static TheoryData<string, int, int, int, int, int, bool, bool> PrefillCases()
    {
        var data = new TheoryData<string, int, int, int, int, int, bool, bool>();
        // B, H, Tq, Tk, Dh, causal, mask: odd lengths, one tile and less, a prefill continuing a cache (Tq < Tk),
        // more queries than keys under the causal mask (rows that see no key), the ViT's 2049 = 16·128 + 1 shape cut
        // down to 129 (a last block of one row) and SigLIP's 256 + 1.
        (int, int, int, int, int, bool, bool)[] shapes =
        [
            (2, 3, 33, 47, 64, false, true), (1, 2, 130, 130, 96, true, false), (1, 4, 200, 200, 64, true, true),
            (3, 2, 64, 64, 96, false, false), (1, 2, 77, 300, 96, true, false), (1, 2, 150, 100, 64, true, false),
            (1, 2, 129, 129, 64, false, false), (1, 1, 257, 257, 64, false, false), (2, 2, 5, 9, 96, false, true),
        ];
        foreach (string kernel in new[] { "attention_fwd_bf16_v2", "attention_fwd_bf16_v3", "attention_fwd_bf16_v4" })
        {
            foreach (var (b, h, tq, tk, dh, causal, mask) in shapes)
            {
                if (kernel.EndsWith("_v4", StringComparison.Ordinal) && dh != 64) continue;  // v4 is Dh 64 only
                data.Add(kernel, b, h, tq, tk, dh, causal, mask);
            }
        }

        return data;
    }

    [CudaTheory]
    [MemberData(nameof(PrefillCases))]
    public void PrefillVariantMatchesTheReference(string kernel, int b, int h, int tq, int tk, int dh, bool causal,
        bool mask)
    {
        using var q = Input(90, b, h, tq, dh);
        using var k = Input(91, b, h, tk, dh);
        using var v = Input(92, b, h, tk, dh);
        using var m = NormAndSoftmaxConformanceTests.MaskOf(93, b, tk);
        Tensor[] ins = mask ? [q, k, v, m] : [q, k, v];
        double scale = 1 / Math.Sqrt(dh);
        Forced(kernel, () => Verify(fixture, kernel, DType.BF16, ins,
            [new([b, h, tq, dh]), new([b, h, tq], OutKind.Stat)],
            (be, i, o) => AttentionSumExp(be, i[0], i[1], i[2], mask ? i[3] : null, causal, scale, o[0], o[1])));
    }

    public static TheoryData<string, int> Kernels64And96() => new()
    {
        { "attention_fwd_bf16_v2", 64 }, { "attention_fwd_bf16_v2", 96 }, { "attention_fwd_bf16_v3", 64 },
        { "attention_fwd_bf16_v3", 96 }, { "attention_fwd_bf16_v4", 64 },
    };

    [CudaTheory]
    [MemberData(nameof(Kernels64And96))]
    public void PrefillVariantReadsViewsOfAFusedQkvBuffer(string kernel, int dh)
    {
        // (B, T, 3, H, Dh) as one qkv GEMM writes it: q, k, v have a token stride of 3·H·Dh.
        const int b = 2, t = 71, h = 3;
        using var qkv = Input(94, b, t, 3, h, dh);
        Forced(kernel, () => Verify(fixture, $"{kernel} on qkv views", DType.BF16, [qkv],
            [new([b, h, t, dh]), new([b, h, t], OutKind.Stat)],
            (be, i, o) =>
            {
                using var perm = i[0].Permute(2, 0, 3, 1, 4);  // (3, B, H, T, Dh)
                using var q = perm.Narrow(0, 0, 1).Reshape(b, h, t, dh);
                using var k = perm.Narrow(0, 1, 1).Reshape(b, h, t, dh);
                using var v = perm.Narrow(0, 2, 1).Reshape(b, h, t, dh);
                AttentionSumExp(be, q, k, v, null, true, 1 / Math.Sqrt(dh), o[0], o[1]);
            }));
    }

    [CudaTheory]
    [MemberData(nameof(Kernels64And96))]
    public void PrefillVariantReadsAKvCacheAndMasksWholeRows(string kernel, int dh)
    {
        // 40 new queries against the first 170 positions of a (B, H, 256, Dh) cache, causal; the key mask removes
        // every key of batch 1 (its rows come out as zeros with lse = −inf) and the first 100 of batch 2.
        const int b = 3, h = 2, tq = 40, tk = 170, tmax = 256;
        using var q = Input(95, b, h, tq, dh);
        using var kc = Input(96, b, h, tmax, dh);
        using var vc = Input(97, b, h, tmax, dh);
        using var m = RemovingMask(b, tk);
        Forced(kernel, () => Verify(fixture, $"{kernel} on a KV cache", DType.BF16, [q, kc, vc, m],
            [new([b, h, tq, dh]), new([b, h, tq], OutKind.Stat)],
            (be, i, o) =>
            {
                using var k = i[1].Narrow(2, 0, tk);
                using var v = i[2].Narrow(2, 0, tk);
                AttentionSumExp(be, i[0], k, v, i[3], true, 1 / Math.Sqrt(dh), o[0], o[1]);
            }));
    }

    public static TheoryData<int, int, int, int, bool> DecodeCases() => new()
    {
        // B, H, Tk, Dh, mask: Phi-3's 32 heads at 768 and 600 cached tokens (several splits), one key, one step of
        // 64 and either side of it, a long context, several batches with a mask.
        { 1, 32, 768, 96, false }, { 1, 8, 600, 96, false }, { 1, 4, 1, 96, false }, { 1, 2, 63, 64, false },
        { 1, 2, 64, 96, false }, { 1, 2, 65, 64, true }, { 1, 2, 3000, 96, false }, { 2, 3, 77, 64, true },
    };

    [CudaTheory]
    [MemberData(nameof(DecodeCases))]
    public void StreamingDecodeMatchesTheReference(int b, int h, int tk, int dh, bool mask)
    {
        using var q = Input(100, b, h, 1, dh);
        using var k = Input(101, b, h, tk, dh);
        using var v = Input(102, b, h, tk, dh);
        using var m = NormAndSoftmaxConformanceTests.MaskOf(103, b, tk);
        Tensor[] ins = mask ? [q, k, v, m] : [q, k, v];
        double scale = 1 / Math.Sqrt(dh);
        Forced("attention_decode_bf16_v2", () => Verify(fixture, "attention_decode_bf16_v2", DType.BF16, ins,
            [new([b, h, 1, dh]), new([b, h, 1], OutKind.Stat)],
            (be, i, o) => AttentionSumExp(be, i[0], i[1], i[2], mask ? i[3] : null, true, scale, o[0], o[1])));
    }

    [CudaTheory]
    [InlineData(64)]
    [InlineData(96)]
    public void StreamingDecodeReadsAKvCacheAndMasksWholeRows(int dh)
    {
        // One new token against the first 700 positions of a (B, H, 1024, Dh) cache; batch 1 has no key left.
        const int b = 3, h = 4, tk = 700, tmax = 1024;
        using var q = Input(104, b, h, 1, dh);
        using var kc = Input(105, b, h, tmax, dh);
        using var vc = Input(106, b, h, tmax, dh);
        using var m = RemovingMask(b, tk);
        Forced("attention_decode_bf16_v2", () => Verify(fixture, "attention_decode_bf16_v2 on a KV cache", DType.BF16,
            [q, kc, vc, m], [new([b, h, 1, dh]), new([b, h, 1], OutKind.Stat)],
            (be, i, o) =>
            {
                using var k = i[1].Narrow(2, 0, tk);
                using var v = i[2].Narrow(2, 0, tk);
                AttentionSumExp(be, i[0], k, v, i[3], true, 1 / Math.Sqrt(dh), o[0], o[1]);
            }));
    }

    [CudaFact]
    public void StreamingDecodeLeavesItsTicketsReadyForTheNextLaunch()
    {
        // The last block of each (b, h) resets its counter: a counter left behind would make the next launch's
        // splits never find their last block and leave its output unwritten (NaN here). Three launches, two shapes.
        var d = Cuda.TensorDevice;
        using var q = Tensor.Rand(107, [1, 32, 1, 96], -1, 1, DType.BF16, d);
        using var k = Tensor.Rand(108, [1, 32, 768, 96], -1, 1, DType.BF16, d);
        using var v = Tensor.Rand(109, [1, 32, 768, 96], -1, 1, DType.BF16, d);
        using var k2 = k.Narrow(1, 0, 5).Narrow(2, 0, 333);
        using var v2 = v.Narrow(1, 0, 5).Narrow(2, 0, 333);
        using var q2 = q.Narrow(1, 0, 5);
        double[] Run(Tensor qq, Tensor kk, Tensor vv)
        {
            using var o = Tensor.Empty([qq.Dim(0), qq.Dim(1), 1, 96], DType.BF16, d);
            using var lse = Tensor.Empty([qq.Dim(0), qq.Dim(1), 1], DType.F32, d);
            Cuda.Fill(o, double.NaN);
            Cuda.Attention(qq, kk, vv, null, true, 0.1, o, lse);
            return o.ToDoubleArray();
        }

        double[] first = [], second = [], third = [], want = [];
        Forced("attention_decode_bf16", () => want = Run(q, k, v));
        Forced("attention_decode_bf16_v2", () =>
        {
            first = Run(q, k, v);
            second = Run(q2, k2, v2);
            third = Run(q, k, v);
        });
        Assert.All(second, x => Assert.True(double.IsFinite(x), "the second launch left its output unwritten"));
        Assert.Equal(first, third);
        // The default decode rounds the same f32 sums in another order: within a bf16 step (2⁻⁸ of values below 1).
        Assert.All(first.Zip(want), p => Assert.True(Math.Abs(p.First - p.Second) <= 1.0 / 128, $"{p} differ"));
    }

    [CudaFact]
    public void TheSwitchesSelectAVariantPerRegime()
    {
        var d = Cuda.TensorDevice;
        Tensor Bf16(params int[] shape) => Tensor.Empty(shape, DType.BF16, d);
        using var vitQ = Bf16(1, 12, 2049, 64);
        using var siglipQ = Bf16(32, 16, 256, 64);
        using var phiQ = Bf16(1, 32, 600, 96);
        using var decQ = Bf16(1, 32, 1, 96);
        using var cache = Bf16(1, 32, 1024, 96);
        using var decK = cache.Narrow(2, 0, 768);
        using var paddedCache = Bf16(1, 32, 1024, 100);
        using var f32 = Tensor.Empty([1, 12, 300, 64], DType.F32, d);
        using var dh80 = Bf16(1, 4, 100, 80);
        // Rows 4-byte aligned but not 16: a token stride of 66 elements (132 bytes).
        using var padded = Bf16(1, 4, 100, 66);
        using var narrow = padded.Narrow(3, 0, 64);
        // Rows 2-byte aligned only: one element in.
        using var odd = padded.Narrow(3, 1, 64);
        string For(Tensor q, Tensor kv, Tensor? o = null, double scale = 0.125) =>
            Cuda.AttentionKernelFor(q, kv, kv, o ?? q, scale);

        Assert.False(Cuda.TensorCoreAttention);
        Assert.False(Cuda.StreamingDecodeAttention);
        Assert.Equal("attention_fwd_bf16", For(vitQ, vitQ));
        Assert.Equal("attention_decode_bf16", For(decQ, decK));
        try
        {
            Cuda.TensorCoreAttention = true;
            Cuda.StreamingDecodeAttention = true;
            Assert.Equal("attention_fwd_bf16_v4", For(vitQ, vitQ));
            Assert.Equal("attention_fwd_bf16_v4", For(siglipQ, siglipQ));
            Assert.Equal("attention_fwd_bf16_v3", For(phiQ, phiQ));
            Assert.Equal("attention_decode_bf16_v2", For(decQ, decK));
            Assert.Equal("attention_fwd_f32", For(f32, f32));
            Assert.Equal("attention_fwd_bf16", For(dh80, dh80));
            Assert.Equal("attention_fwd_bf16_v2", For(narrow, narrow));
            Assert.Equal("attention_fwd_bf16_v2", For(vitQ, vitQ, scale: -0.125));
            Assert.Equal("attention_fwd_bf16", For(odd, odd));
            Assert.Equal("attention_fwd_bf16", For(narrow, narrow, odd));  // the output is stored as 4-byte pairs
            Assert.Equal("attention_decode_bf16", For(decQ, paddedCache.Narrow(3, 0, 96)));  // 200-byte rows
            Cuda.TensorCoreAttention = false;
            Assert.Equal("attention_fwd_bf16", For(phiQ, phiQ));
            Assert.Equal("attention_decode_bf16_v2", For(decQ, decK));
            Cuda.StreamingDecodeAttention = false;
            Assert.Equal("attention_decode_bf16", For(decQ, decK));
            Cuda.AttentionKernelOverride = "attention_fwd_bf16_v4";
            var e = Assert.Throws<NotSupportedOnBackendException>(() => For(phiQ, phiQ));
            Assert.Contains("attention_fwd_bf16_v4 does not apply", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Cuda.TensorCoreAttention = false;
            Cuda.StreamingDecodeAttention = false;
            Cuda.AttentionKernelOverride = null;
        }
    }

    [CudaFact]
    public void TheEnvironmentTurnsBothSwitchesOn()
    {
        // MED2E3_FAST_ATTENTION is read once per process: the backend is made in a child process that has it.
        const string method = nameof(TheEnvironmentTurnsBothSwitchesOn);
        if (ChildProcess.IsChildFor($"{typeof(AttentionVariantTests).FullName}.{method}"))
        {
            var fresh = new CudaBackend(fixture.Device);
            Assert.True(fresh.TensorCoreAttention);
            Assert.True(fresh.StreamingDecodeAttention);
            return;
        }

        Environment.SetEnvironmentVariable("MED2E3_FAST_ATTENTION", "1");
        try
        {
            (int exit, string output) = ChildProcess.Run(
                typeof(AttentionVariantTests), method, TimeSpan.FromMinutes(3));
            Assert.True(exit == 0, $"the child process failed (exit code {exit}):\n{output}");
            Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MED2E3_FAST_ATTENTION", null);
        }
    }

    // Attention with its lse compared as exp(lse) = Σ_j exp(s[i,j]): 0 for a row with no key left, where lse = −inf
    // and an NMSE over lse itself would be NaN.
    private static void AttentionSumExp(IBackend be, Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal,
        double scale, Tensor o, Tensor sumExp)
    {
        using var lse = Tensor.Empty([.. sumExp.ShapeSpan], sumExp.DType, sumExp.Device);
        be.Attention(q, k, v, mask, causal, scale, o, lse);
        be.Unary(UnaryOp.Exp, lse, sumExp);
    }

    // Runs `body` with the backend forced to `kernel`.
    private void Forced(string kernel, Action body)
    {
        Cuda.AttentionKernelOverride = kernel;
        try
        {
            body();
        }
        finally
        {
            Cuda.AttentionKernelOverride = null;
        }
    }

    // (B, Tk) additive mask: −inf on every third key of batch 0, on every key of batch 1, on the first 100 keys of
    // batch 2 (whole early tiles removed), none after that.
    private static Tensor RemovingMask(int b, int tk)
    {
        var v = new double[b * tk];
        for (int j = 0; j < tk; j++)
        {
            v[j] = j % 3 == 0 ? double.NegativeInfinity : 0;
            if (b > 1) v[tk + j] = double.NegativeInfinity;
            if (b > 2) v[2 * tk + j] = j < 100 ? double.NegativeInfinity : 0;
        }

        return Tensor.FromDoubles(v, [b, tk], DType.F64);
    }
}
