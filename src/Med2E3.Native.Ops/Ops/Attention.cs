using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Fused scaled-dot-product attention: o = softmax(q·kᵀ·scale + keyMask, causal)·v per (batch, head).
/// q (B, H, Tq, Dh); k, v (B, H, Tk, Dh); the causal mask aligns the last query with the last key, so a
/// single-token decode step against a KV cache is Tq = 1. lse (B, H, Tq) is saved for backward.
/// </summary>
public static unsafe class Attention
{
    /// <summary>Element strides of a (B, H, T, Dh) operand (last stride 1).</summary>
    public readonly record struct Layout(long SB, long SH, long ST)
    {
        /// <summary>Layout of a tensor.</summary>
        public static Layout Of(Tensor t) => new(t.StridesSpan[0], t.StridesSpan[1], t.StridesSpan[2]);
    }

    /// <summary>Reference forward: the plain formula, per query row, in double.</summary>
    public static void Reference<T, TS>(T* q, Layout lq, T* k, Layout lk, T* v, Layout lv, T* mask, bool causal,
        double scale, int b, int h, int tq, int tk, int dh, T* o, TS* lse)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For((long)b * h * tq, 4, (s, e) =>
        {
            var sc = new double[tk];
            var acc = new double[dh];
            for (long row = s; row < e; row++)
            {
                int i = (int)(row % tq), hh = (int)(row / tq % h), bb = (int)(row / tq / h);
                T* qr = q + bb * lq.SB + hh * lq.SH + i * lq.ST;
                double m = double.NegativeInfinity;
                for (int j = 0; j < tk; j++)
                {
                    T* kr = k + bb * lk.SB + hh * lk.SH + j * lk.ST;
                    double d = 0;
                    for (int c = 0; c < dh; c++) d += double.CreateTruncating(qr[c]) * double.CreateTruncating(kr[c]);
                    d *= scale;
                    if (mask != null) d += double.CreateTruncating(mask[(long)bb * tk + j]);
                    if (causal && j > i + (tk - tq)) d = double.NegativeInfinity;
                    sc[j] = d;
                    if (d > m) m = d;
                }
                T* orow = o + row * dh;
                if (double.IsNegativeInfinity(m))
                {
                    for (int c = 0; c < dh; c++) orow[c] = T.Zero;
                    lse[row] = TS.CreateTruncating(double.NegativeInfinity);
                    continue;
                }
                double l = 0;
                Array.Clear(acc);
                for (int j = 0; j < tk; j++)
                {
                    double p = Math.Exp(sc[j] - m);
                    l += p;
                    T* vr = v + bb * lv.SB + hh * lv.SH + j * lv.ST;
                    for (int c = 0; c < dh; c++) acc[c] += p * double.CreateTruncating(vr[c]);
                }
                for (int c = 0; c < dh; c++) orow[c] = T.CreateTruncating(acc[c] / l);
                lse[row] = TS.CreateTruncating(m + Math.Log(l));
            }
        });
    }

    /// <summary>
    /// Fast f32 forward: per (batch, head) and block of 64 queries, S = Q·Kᵀ and O = P·V with the blocked GEMM and a
    /// vectorised exact softmax in between (the block's scores fit in cache; keys are not tiled).
    /// </summary>
    public static void Fast(float* q, Layout lq, float* k, Layout lk, float* v, Layout lv, float* mask, bool causal,
        float scale, int b, int h, int tq, int tk, int dh, float* o, float* lse)
    {
        const int QB = 64;
        int qBlocks = (tq + QB - 1) / QB;
        long tasks = (long)b * h * qBlocks;
        Parallel.For(0, tasks, () => (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((long)QB * Math.Max(tk, 1) * 4), 64),
            (task, _, buf) =>
            {
                float* sbuf = (float*)buf;
                int qb = (int)(task % qBlocks), hh = (int)(task / qBlocks % h), bb = (int)(task / qBlocks / h);
                int i0 = qb * QB, rows = Math.Min(QB, tq - i0);
                float* qp = q + bb * lq.SB + hh * lq.SH + i0 * lq.ST;
                float* kp = k + bb * lk.SB + hh * lk.SH;
                float* vp = v + bb * lv.SB + hh * lv.SH;
                Gemm.Sgemm(false, true, rows, tk, dh, scale, qp, (int)lq.ST, kp, (int)lk.ST, 0, sbuf, tk, null, parallel: false);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    var sr = new Span<float>(sbuf + (long)r * tk, tk);
                    int valid = causal ? Math.Clamp(i + (tk - tq) + 1, 0, tk) : tk;
                    if (mask != null) TensorPrimitives.Add(sr[..valid], new ReadOnlySpan<float>(mask + (long)bb * tk, valid), sr[..valid]);
                    sr[valid..].Clear();
                    long orow = ((long)bb * h + hh) * tq + i;
                    float m = valid > 0 ? TensorPrimitives.Max(sr[..valid]) : float.NegativeInfinity;
                    if (float.IsNegativeInfinity(m))
                    {
                        sr.Clear();
                        lse[orow] = float.NegativeInfinity;
                        continue;
                    }
                    var sv = sr[..valid];
                    float l = VectorMath.ExpShiftSum(sv, m);
                    TensorPrimitives.Multiply(sv, 1f / l, sv);
                    lse[orow] = m + MathF.Log(l);
                }
                float* op = o + (((long)bb * h + hh) * tq + i0) * dh;
                Gemm.Sgemm(false, false, rows, dh, tk, 1f, sbuf, tk, vp, (int)lv.ST, 0, op, dh, null, parallel: false);
                return buf;
            },
            buf => System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)buf));
    }

    /// <summary>
    /// Reference backward with p = exp(s − lse): dv = Pᵀ·dO, dP = dO·vᵀ, D = rowsum(dO ⊙ o), dS = P ⊙ (dP − D),
    /// dq = scale·dS·k, dk = scale·dSᵀ·q. Outputs contiguous (B, H, T, Dh). The mask is a constant.
    /// </summary>
    public static void BackwardReference<T, TS>(T* q, Layout lq, T* k, Layout lk, T* v, Layout lv, T* mask, bool causal,
        double scale, int b, int h, int tq, int tk, int dh, T* o, TS* lse, T* dO, T* dq, T* dk, T* dv)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For((long)b * h, 1, (s, e) =>
        {
            var p = new double[tk];
            var dkAcc = new double[(long)tk * dh];
            var dvAcc = new double[(long)tk * dh];
            for (long bh = s; bh < e; bh++)
            {
                int bb = (int)(bh / h), hh = (int)(bh % h);
                Array.Clear(dkAcc);
                Array.Clear(dvAcc);
                for (int i = 0; i < tq; i++)
                {
                    T* qr = q + bb * lq.SB + hh * lq.SH + i * lq.ST;
                    long row = bh * tq + i;
                    T* dor = dO + row * dh;
                    T* orow = o + row * dh;
                    double ls = double.CreateTruncating(lse[row]);
                    T* dqr = dq + row * dh;
                    if (double.IsNegativeInfinity(ls))
                    {
                        for (int c = 0; c < dh; c++) dqr[c] = T.Zero;
                        continue;
                    }
                    double dsum = 0;
                    for (int c = 0; c < dh; c++) dsum += double.CreateTruncating(dor[c]) * double.CreateTruncating(orow[c]);
                    var dqa = new double[dh];
                    for (int j = 0; j < tk; j++)
                    {
                        if (causal && j > i + (tk - tq)) continue;
                        T* kr = k + bb * lk.SB + hh * lk.SH + j * lk.ST;
                        T* vr = v + bb * lv.SB + hh * lv.SH + j * lv.ST;
                        double sc = 0;
                        for (int c = 0; c < dh; c++) sc += double.CreateTruncating(qr[c]) * double.CreateTruncating(kr[c]);
                        sc = sc * scale + (mask != null ? double.CreateTruncating(mask[(long)bb * tk + j]) : 0);
                        double pj = Math.Exp(sc - ls);
                        double dp = 0;
                        for (int c = 0; c < dh; c++)
                        {
                            dp += double.CreateTruncating(dor[c]) * double.CreateTruncating(vr[c]);
                            dvAcc[(long)j * dh + c] += pj * double.CreateTruncating(dor[c]);
                        }
                        double ds = pj * (dp - dsum) * scale;
                        for (int c = 0; c < dh; c++)
                        {
                            dqa[c] += ds * double.CreateTruncating(kr[c]);
                            dkAcc[(long)j * dh + c] += ds * double.CreateTruncating(qr[c]);
                        }
                    }
                    for (int c = 0; c < dh; c++) dqr[c] = T.CreateTruncating(dqa[c]);
                }
                for (long j = 0; j < (long)tk * dh; j++)
                {
                    dk[bh * tk * dh + j] = T.CreateTruncating(dkAcc[j]);
                    dv[bh * tk * dh + j] = T.CreateTruncating(dvAcc[j]);
                }
            }
        });
    }

    /// <summary>
    /// Fast f32 backward, per (batch, head) and block of 64 queries, with the blocked GEMM:
    /// S = Q·Kᵀ·scale (+ mask, causal), P = exp(S − lse), dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O))·scale,
    /// dQ = dS·K, dK += dSᵀ·Q. dk and dv are accumulated per (batch, head), so heads run in parallel.
    /// </summary>
    public static void BackwardFast(float* q, Layout lq, float* k, Layout lk, float* v, Layout lv, float* mask, bool causal,
        float scale, int b, int h, int tq, int tk, int dh, float* o, float* lse, float* dO, float* dq, float* dk, float* dv)
    {
        const int QB = 64;
        Parallel.For(0, (long)b * h, bh =>
        {
            int bb = (int)(bh / h), hh = (int)(bh % h);
            float* qp = q + bb * lq.SB + hh * lq.SH;
            float* kp = k + bb * lk.SB + hh * lk.SH;
            float* vp = v + bb * lv.SB + hh * lv.SH;
            float* dkp = dk + bh * tk * dh;
            float* dvp = dv + bh * tk * dh;
            new Span<float>(dkp, tk * dh).Clear();
            new Span<float>(dvp, tk * dh).Clear();
            var pBuf = new float[QB * tk];
            var dpBuf = new float[QB * tk];
            fixed (float* P = pBuf, DP = dpBuf)
            {
                for (int i0 = 0; i0 < tq; i0 += QB)
                {
                    int rows = Math.Min(QB, tq - i0);
                    long row0 = bh * tq + i0;
                    float* qb = qp + i0 * lq.ST;
                    float* dob = dO + row0 * dh;
                    float* ob = o + row0 * dh;
                    Gemm.Sgemm(false, true, rows, tk, dh, scale, qb, (int)lq.ST, kp, (int)lk.ST, 0, P, tk, null, parallel: false);
                    for (int r = 0; r < rows; r++)
                    {
                        int i = i0 + r;
                        var pr = new Span<float>(P + (long)r * tk, tk);
                        float l = lse[row0 + r];
                        int valid = causal ? Math.Clamp(i + (tk - tq) + 1, 0, tk) : tk;
                        if (float.IsNegativeInfinity(l)) valid = 0;
                        if (mask != null) TensorPrimitives.Add(pr[..valid], new ReadOnlySpan<float>(mask + (long)bb * tk, valid), pr[..valid]);
                        VectorMath.ExpShiftSum(pr[..valid], float.IsNegativeInfinity(l) ? 0 : l);
                        pr[valid..].Clear();
                    }
                    // dV += Pᵀ·dO ; dP = dO·Vᵀ
                    Gemm.Sgemm(true, false, tk, dh, rows, 1f, P, tk, dob, dh, 1f, dvp, dh, null, parallel: false);
                    Gemm.Sgemm(false, true, rows, tk, dh, 1f, dob, dh, vp, (int)lv.ST, 0, DP, tk, null, parallel: false);
                    for (int r = 0; r < rows; r++)
                    {
                        float dsum = TensorPrimitives.Dot(new ReadOnlySpan<float>(dob + (long)r * dh, dh), new ReadOnlySpan<float>(ob + (long)r * dh, dh));
                        var pr = new Span<float>(P + (long)r * tk, tk);
                        var dpr = new Span<float>(DP + (long)r * tk, tk);
                        TensorPrimitives.Subtract(dpr, dsum, dpr);
                        TensorPrimitives.Multiply(dpr, pr, dpr);
                        TensorPrimitives.Multiply(dpr, scale, dpr);     // dS
                    }
                    // dQ = dS·K ; dK += dSᵀ·Q
                    Gemm.Sgemm(false, false, rows, dh, tk, 1f, DP, tk, kp, (int)lk.ST, 0, dq + row0 * dh, dh, null, parallel: false);
                    Gemm.Sgemm(true, false, tk, dh, rows, 1f, DP, tk, qb, (int)lq.ST, 1f, dkp, dh, null, parallel: false);
                }
            }
        });
    }

    internal static Tensor LastAxisUnit(Tensor t) => t.StridesSpan[^1] == 1 || t.Dim(-1) == 1 ? t.AliasNoGrad() : t.ContiguousCopyNoGrad();

    internal static Tensor Apply(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double? scale)
    {
        Dispatch.Float("Attention", q);
        Dispatch.Same("Attention", q, k);
        Dispatch.Same("Attention", q, v);
        Dispatch.Same("Attention", q, keyMask);
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ShapeMismatchException("Attention", q.ShapeSpan, k.ShapeSpan, -1, "q, k, v must be (B, H, T, Dh)");
        int b = q.Dim(0), h = q.Dim(1), tq = q.Dim(2), dh = q.Dim(3), tk = k.Dim(2);
        if (k.Dim(0) != b || k.Dim(1) != h || k.Dim(3) != dh) throw new ShapeMismatchException("Attention", q.ShapeSpan, k.ShapeSpan, -1, "k must be (B, H, Tk, Dh)");
        if (!Shapes.Equal(k.ShapeSpan, v.ShapeSpan)) throw new ShapeMismatchException("Attention", k.ShapeSpan, v.ShapeSpan, -1, "k and v differ");
        if (keyMask is not null && (keyMask.Rank != 2 || keyMask.Dim(0) != b || keyMask.Dim(1) != tk))
            throw new ShapeMismatchException("Attention", keyMask.ShapeSpan, k.ShapeSpan, -1, "key mask must be (B, Tk)");
        if (causal && tq > tk) throw new ShapeMismatchException("Attention", q.ShapeSpan, k.ShapeSpan, 2, "causal needs Tq ≤ Tk");
        var be = Dispatch.Backend(OpKind.Attention, q);
        double sc = scale ?? 1.0 / Math.Sqrt(dh);
        using var qc = LastAxisUnit(q);
        using var kc = LastAxisUnit(k);
        using var vc = LastAxisUnit(v);
        using var mc = keyMask is null ? null : Dispatch.C(keyMask);
        var o = Tensor.Empty([b, h, tq, dh], q.DType, q.Device);
        using var lse = Tensor.Empty([b, h, tq], Dispatch.StatType(q.DType), q.Device);
        be.Attention(qc, kc, vc, mc, causal, sc, o, lse);
        return Autograd.Record(o, OpKind.Attention, "Attention", [q, k, v], [qc, kc, vc, mc, o, lse], (node, g) =>
        {
            var s = node.Saved;
            using var gc = Dispatch.C(g);
            var dq = Tensor.Empty([b, h, tq, dh], g.DType, g.Device);
            var dk = Tensor.Empty([b, h, tk, dh], g.DType, g.Device);
            var dv = Tensor.Empty([b, h, tk, dh], g.DType, g.Device);
            Backends.For(g.Device).AttentionBackward(s[0]!, s[1]!, s[2]!, s[3], causal, sc, s[4]!, s[5]!, gc, dq, dk, dv);
            return [dq, dk, dv];
        });
    }
}
