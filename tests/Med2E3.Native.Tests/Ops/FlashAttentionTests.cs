using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;
using Attention = Med2E3.Native.Ops.Ops.Attention;

namespace Med2E3.Native.Tests.Ops;

/// <summary>
/// The flash-style CPU attention (<see cref="FlashAttention.Blocked"/>) and its decode path
/// (<see cref="FlashAttention.Decode"/>) against the float64 <see cref="Attention.Reference{T, TS}"/> on the same
/// strided inputs: o by NMSE ≤ 1e-7 (the attention tolerance), lse within 1e-5 + 1e-5·|lse|, rows whose keys are all
/// masked exactly zero with lse = −∞.
/// </summary>
public unsafe class FlashAttentionTests
{
    private enum Path { Blocked, Decode, Dispatch }

    /// <summary>
    /// A (B, H, T, Dh) operand stored with padded strides: row stride Dh + 3, head stride T·(Dh + 3) + 5, batch stride
    /// H·(head stride) + 7, so every axis but the last is a non-contiguous view.
    /// </summary>
    private sealed class Operand
    {
        public readonly float[] F;
        public readonly double[] D;
        public readonly Attention.Layout Layout;

        public Operand(Random rng, int b, int h, int t, int dh, bool strided)
        {
            long st = strided ? dh + 3 : dh, sh = t * st + (strided ? 5 : 0), sb = h * sh + (strided ? 7 : 0);
            Layout = new Attention.Layout(sb, sh, st);
            F = new float[Math.Max(1, b * sb)];
            // Padding holds NaN: a kernel that reads outside the view poisons its output.
            Array.Fill(F, float.NaN);
            for (int bb = 0; bb < b; bb++)
                for (int hh = 0; hh < h; hh++)
                    for (int i = 0; i < t; i++)
                        for (int c = 0; c < dh; c++)
                        {
                            // Non-zero values in ±[0.1, 1.6]: scores spread over several units, so the softmax is not flat.
                            float x = 0.1f + 1.5f * (float)rng.NextDouble();
                            F[bb * sb + hh * sh + i * st + c] = rng.Next(2) == 0 ? x : -x;
                        }
            D = F.Select(x => (double)x).ToArray();
        }
    }

    private static void Check(Path path, int b, int h, int tq, int tk, int dh, bool causal, int maskKind, bool strided,
        int seed)
    {
        var rng = new Random(seed);
        var q = new Operand(rng, b, h, tq, dh, strided);
        var k = new Operand(rng, b, h, tk, dh, strided);
        var v = new Operand(rng, b, h, tk, dh, strided);
        // maskKind 0: none; 1: random additive values in [−2, 0] with every 5th key −∞ and the first two keys −∞
        // (with causal and Tk − Tq < 2 this leaves the first rows with no visible key); 2: also batch 0 fully masked.
        float[]? mask = null;
        if (maskKind > 0)
        {
            mask = new float[b * tk];
            for (int i = 0; i < mask.Length; i++)
            {
                int j = i % tk;
                mask[i] = j < 2 || j % 5 == 4 ? float.NegativeInfinity : -2f * (float)rng.NextDouble();
            }
            if (maskKind == 2) Array.Fill(mask, float.NegativeInfinity, 0, tk);
        }
        double[]? maskD = mask?.Select(x => (double)x).ToArray();
        float scale = 1f / MathF.Sqrt(dh);
        long rows = (long)b * h * tq;
        var o = new float[rows * dh];
        var lse = new float[rows];
        var oRef = new double[rows * dh];
        var lseRef = new double[rows];
        fixed (float* pq = q.F, pk = k.F, pv = v.F, pm = mask, po = o, pl = lse)
        fixed (double* dq = q.D, dk = k.D, dv = v.D, dm = maskD, dor = oRef, dl = lseRef)
        {
            Attention.Reference(dq, q.Layout, dk, k.Layout, dv, v.Layout, dm, causal, (double)scale, b, h, tq, tk, dh, dor, dl);
            switch (path)
            {
                case Path.Blocked:
                    FlashAttention.Blocked(pq, q.Layout, pk, k.Layout, pv, v.Layout, pm, causal, scale, b, h, tq, tk, dh, po, pl);
                    break;
                case Path.Decode:
                    FlashAttention.Decode(pq, q.Layout, pk, k.Layout, pv, v.Layout, pm, causal, scale, b, h, tq, tk, dh, po, pl);
                    break;
                default:
                    FlashAttention.Forward(pq, q.Layout, pk, k.Layout, pv, v.Layout, pm, causal, scale, b, h, tq, tk, dh, po, pl);
                    break;
            }
        }
        double num = 0, den = 0;
        int masked = 0;
        for (long r = 0; r < rows; r++)
        {
            if (double.IsNegativeInfinity(lseRef[r]))
            {
                masked++;
                Assert.True(float.IsNegativeInfinity(lse[r]), $"row {r}: lse {lse[r]}, expected −∞ (every key masked)");
                for (int c = 0; c < dh; c++) Assert.True(o[r * dh + c] == 0f, $"row {r}: o[{c}] = {o[r * dh + c]}, expected 0");
                continue;
            }
            Assert.True(Math.Abs(lse[r] - lseRef[r]) <= 1e-5 + 1e-5 * Math.Abs(lseRef[r]),
                $"row {r}: lse {lse[r]} vs reference {lseRef[r]}");
            for (int c = 0; c < dh; c++)
            {
                double d = o[r * dh + c] - oRef[r * dh + c];
                num += d * d;
                den += oRef[r * dh + c] * oRef[r * dh + c];
            }
        }
        if (maskKind == 2 || (causal && maskKind > 0 && tk - tq < 2)) Assert.True(masked > 0, "the case was meant to have fully masked rows");
        if (den > 0)
        {
            double nmse = num / den;
            Assert.True(nmse <= 1e-7, $"NMSE {nmse:E2} > 1e-7 (B {b}, H {h}, Tq {tq}, Tk {tk}, Dh {dh}, causal {causal})");
        }
        else Assert.Equal(rows, masked);
    }

    [Theory]
    [InlineData(1, 1, 64)]
    [InlineData(7, 7, 64)]
    [InlineData(63, 63, 64)]
    [InlineData(64, 64, 64)]
    [InlineData(65, 65, 96)]
    [InlineData(257, 257, 64)]
    [InlineData(7, 257, 96)]
    [InlineData(65, 7, 40)]
    [InlineData(130, 129, 40)]
    [InlineData(33, 200, 1)]
    public void BlockedMatchesReference(int tq, int tk, int dh)
    {
        Check(Path.Blocked, 2, 3, tq, tk, dh, causal: false, maskKind: 0, strided: true, seed: tq * 31 + tk);
        if (tq <= tk) Check(Path.Blocked, 2, 3, tq, tk, dh, causal: true, maskKind: 0, strided: true, seed: tq * 31 + tk + 1);
    }

    [Theory]
    [InlineData(1, 7, 64)]
    [InlineData(63, 64, 96)]
    [InlineData(65, 257, 64)]
    [InlineData(100, 300, 40)]
    [InlineData(129, 129, 96)]
    [InlineData(6, 6, 4)]
    [InlineData(70, 70, 96)]
    public void BlockedCausalCacheAlignment(int tq, int tk, int dh) =>
        Check(Path.Blocked, 1, 2, tq, tk, dh, causal: true, maskKind: 0, strided: false, seed: tq + tk * 7);

    [Theory]
    [InlineData(65, 65, 64, false, 1)]
    [InlineData(65, 65, 64, true, 1)]
    [InlineData(20, 20, 64, false, 2)]
    [InlineData(70, 130, 96, true, 2)]
    [InlineData(257, 257, 40, true, 1)]
    public void BlockedKeyMasks(int tq, int tk, int dh, bool causal, int maskKind) =>
        Check(Path.Blocked, 2, 2, tq, tk, dh, causal, maskKind, strided: true, seed: tq * 3 + tk + maskKind);

    [Fact]
    public void BlockedVitLength() =>
        Check(Path.Blocked, 1, 1, 2049, 2049, 64, causal: false, maskKind: 0, strided: false, seed: 2049);

    [Theory]
    [InlineData(1, 1, 96, false, 0)]
    [InlineData(1, 7, 96, true, 0)]
    [InlineData(1, 600, 96, true, 0)]
    [InlineData(2, 600, 96, true, 0)]
    [InlineData(2, 65, 64, false, 1)]
    [InlineData(2, 65, 40, true, 1)]
    [InlineData(4, 257, 64, true, 2)]
    [InlineData(1, 33, 17, false, 2)]
    public void DecodeMatchesReference(int tq, int tk, int dh, bool causal, int maskKind) =>
        Check(Path.Decode, 2, 5, tq, tk, dh, causal, maskKind, strided: true, seed: tq * 1000 + tk + dh);

    [Theory]
    [InlineData(1, 600, true)]
    [InlineData(4, 70, false)]
    [InlineData(5, 70, true)]
    public void ForwardPicksEitherPath(int tq, int tk, bool causal) =>
        Check(Path.Dispatch, 1, 3, tq, tk, 96, causal, maskKind: 0, strided: true, seed: tq + tk);

    /// <summary>F.Attention under each variant (and the backward, which reads the forward's lse) against reference mode.</summary>
    [Theory]
    [InlineData(AttentionVariant.Flash)]
    [InlineData(AttentionVariant.Blocked)]
    public void VariantsAgreeThroughF(AttentionVariant variant)
    {
        var old = FlashAttention.Variant;
        try
        {
            FlashAttention.Variant = variant;
            using var scope = TensorScope.Begin();
            var q = Tensor.Randn(1, [1, 4, 70, 64]);
            var k = Tensor.Randn(2, [1, 4, 90, 64]);
            var v = Tensor.Randn(3, [1, 4, 90, 64]);
            q.RequiresGrad = true;
            k.RequiresGrad = true;
            var o = F.Attention(q, k, v, causal: true);
            o.Backward(Tensor.Ones(o.Shape, o.DType));
            float[] got = o.ToFloatArray(), dq = q.Grad!.ToFloatArray(), dk = k.Grad!.ToFloatArray();
            float[] want, dqRef, dkRef;
            q.ZeroGrad();
            k.ZeroGrad();
            using (CpuBackend.ReferenceMode())
            {
                var r = F.Attention(q, k, v, causal: true);
                r.Backward(Tensor.Ones(r.Shape, r.DType));
                want = r.ToFloatArray();
                dqRef = q.Grad!.ToFloatArray();
                dkRef = k.Grad!.ToFloatArray();
            }
            AssertNmse(want, got, 1e-7);
            AssertNmse(dqRef, dq, 1e-7);
            AssertNmse(dkRef, dk, 1e-7);
        }
        finally
        {
            FlashAttention.Variant = old;
        }
    }

    [Fact]
    public void ExpIsWithinTwoUlpOverTheSoftmaxRange()
    {
        for (float x0 = -87f; x0 < 88f; x0 += 16 * 0.0137f)
        {
            var x = System.Runtime.Intrinsics.Vector512.Create(x0) + System.Runtime.Intrinsics.Vector512.Create(
                0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) * 0.0137f;
            var e = FlashAttention.Exp(x);
            for (int i = 0; i < 16; i++)
            {
                double want = Math.Exp(x[i]);
                Assert.True(Math.Abs(e[i] - want) <= 2.5e-7 * want, $"exp({x[i]}) = {e[i]}, expected {want}");
            }
        }
        Assert.True(FlashAttention.Exp(System.Runtime.Intrinsics.Vector512.Create(float.NegativeInfinity))[0] < 1e-37f);
    }

    private static void AssertNmse(float[] want, float[] got, double tol)
    {
        Assert.Equal(want.Length, got.Length);
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            num += (double)(got[i] - want[i]) * (got[i] - want[i]);
            den += (double)want[i] * want[i];
        }
        Assert.True(den > 0 && num / den <= tol, $"NMSE {num / den:E2} > {tol:E0}");
    }
}
