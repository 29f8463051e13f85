using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Med2E3.Native.Ops.Ops;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>The f32 attention forward the CPU backend runs (outside reference mode).</summary>
public enum AttentionVariant
{
    /// <summary><see cref="FlashAttention.Forward"/>: key-blocked with an online softmax; Tq ≤ 4 takes the decode path.</summary>
    Flash,

    /// <summary><see cref="Attention.Fast"/>: per 64-query block, S over all keys with the packed GEMM, exact softmax, P·V.</summary>
    Blocked,
}

/// <summary>
/// Flash-style f32 attention forward on the CPU, same semantics as <see cref="Attention.Reference{T, TS}"/>
/// (o and lse; the backward consumes lse unchanged).
/// <para>
/// Prefill / encoder (Tq &gt; <see cref="DecodeMaxQueries"/>): one task per (b, h, block of 64 queries). The block's
/// queries are the 16 lanes of four 512-bit vectors, so everything is kept transposed: Qᵀ (Dh × 64, scaled once),
/// Sᵀ (keys × 64) and the accumulator Oᵀ (Dh × 64). For each block of 64 keys: Sᵀ = K·Qᵀ with a 4-key × 64-query
/// register tile (one broadcast of k[j, c] feeds four FMAs), key mask and causal diagonal applied, then the online
/// softmax runs lane-parallel (a running max and sum per query, no horizontal reductions), and Oᵀ = α·Oᵀ + Vᵀ·Pᵀ
/// with a 4-channel × 64-query tile. Causal key blocks above the diagonal are never visited; only the diagonal block
/// is masked. O = Oᵀᵀ / l and lse = m + log l are written at the end. Threads take tasks from a shared counter, head
/// by head (K and V stay in cache) and within a head the last (heaviest, if causal) query block first.
/// </para>
/// <para>
/// Decode (Tq ≤ <see cref="DecodeMaxQueries"/>, one step over a KV cache): per (b, h) one pass over the cached K rows
/// (all query rows per K row), an exact softmax of those few rows, one pass over the V rows. Bandwidth-bound; the
/// (b, h) pairs are shared among the threads.
/// </para>
/// Strided q, k, v (<see cref="Attention.Layout"/>, unit last stride) are read in place; o (B, H, Tq, Dh) and
/// lse (B, H, Tq) are contiguous.
/// </summary>
public static unsafe class FlashAttention
{
    /// <summary>Queries per task of the blocked path: four vectors of 16 lanes.</summary>
    public const int QueryBlock = 64;

    /// <summary>Keys per step of the online softmax.</summary>
    public const int KeyBlock = 64;

    /// <summary>Largest Tq that takes the decode path.</summary>
    public const int DecodeMaxQueries = 4;

    private const int Lanes = 16;

    /// <summary>True when 512-bit vectors run in hardware (elsewhere the kernels are correct but emulated).</summary>
    public static bool Available { get; } = Vector512.IsHardwareAccelerated;

    /// <summary>
    /// The forward the CPU backend runs for f32: <see cref="AttentionVariant.Flash"/> where 512-bit vectors are in
    /// hardware, else <see cref="AttentionVariant.Blocked"/>. Tests and benchmarks set it to compare the two.
    /// </summary>
    public static AttentionVariant Variant { get; set; } = Available ? AttentionVariant.Flash : AttentionVariant.Blocked;

    /// <summary>Largest number of worker threads the kernels use (defaults to the processor count).</summary>
    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// o = softmax(q·kᵀ·scale + mask, causal)·v and lse, choosing the decode path for Tq ≤ <see cref="DecodeMaxQueries"/>.
    /// mask (B, Tk) may be null; causal aligns the last query with the last key (needs Tq ≤ Tk).
    /// </summary>
    public static void Forward(float* q, Attention.Layout lq, float* k, Attention.Layout lk, float* v, Attention.Layout lv,
        float* mask, bool causal, float scale, int b, int h, int tq, int tk, int dh, float* o, float* lse)
    {
        if (tq <= DecodeMaxQueries) Decode(q, lq, k, lk, v, lv, mask, causal, scale, b, h, tq, tk, dh, o, lse);
        else Blocked(q, lq, k, lk, v, lv, mask, causal, scale, b, h, tq, tk, dh, o, lse);
    }

    /// <summary>The key-blocked path with the online softmax, for any Tq (see the class summary).</summary>
    public static void Blocked(float* q, Attention.Layout lq, float* k, Attention.Layout lk, float* v, Attention.Layout lv,
        float* mask, bool causal, float scale, int b, int h, int tq, int tk, int dh, float* o, float* lse)
    {
        if (b == 0 || h == 0 || tq == 0) return;
        int qBlocks = (tq + QueryBlock - 1) / QueryBlock;
        long bh = (long)b * h;
        // Per worker: Qᵀ and Oᵀ (Dh × 64 each), Sᵀ (64 × 64), and 64 lanes each of m, l, α.
        long scratch = 2L * dh * QueryBlock + (long)KeyBlock * QueryBlock + 3 * QueryBlock;
        RunTasks(bh * qBlocks, scratch, (task, buf) =>
        {
            // Head by head, so the threads work on the same K, V while it is in cache; within a head the last query
            // block first, so with causal work (which grows with the block) the lightest tasks come last and fill
            // the tail evenly.
            long pair = task / qBlocks;
            int qb = qBlocks - 1 - (int)(task % qBlocks);
            int bb = (int)(pair / h), hh = (int)(pair % h);
            BlockTask(q + bb * lq.SB + hh * lq.SH, lq.ST, k + bb * lk.SB + hh * lk.SH, lk.ST,
                v + bb * lv.SB + hh * lv.SH, lv.ST, mask == null ? null : mask + (long)bb * tk, causal, scale,
                qb * QueryBlock, tq, tk, dh, o + pair * tq * dh, lse + pair * tq, buf);
        });
    }

    /// <summary>One (b, h, query block): q, k, v, o, lse point at the head; mask at the batch row.</summary>
    private static void BlockTask(float* q, long qs, float* k, long ks, float* v, long vs, float* mask, bool causal,
        float scale, int i0, int tq, int tk, int dh, float* o, float* lse, float* buf)
    {
        float* qt = buf;
        float* ot = qt + (long)dh * QueryBlock;
        float* st = ot + (long)dh * QueryBlock;
        float* m = st + KeyBlock * QueryBlock;
        float* l = m + QueryBlock;
        float* alpha = l + QueryBlock;
        int rows = Math.Min(QueryBlock, tq - i0), off = tk - tq;
        // Causal: the block's last query sees keys up to i0 + rows − 1 + off; the key blocks after it are skipped.
        int kEnd = causal ? Math.Min(tk, i0 + rows + off) : tk;

        // Qᵀ with the scale folded in; lanes past the last query stay zero (their results are never written).
        new Span<float>(qt, dh * QueryBlock).Clear();
        for (int r = 0; r < rows; r++)
        {
            float* qr = q + (i0 + r) * qs;
            for (int c = 0; c < dh; c++) qt[c * QueryBlock + r] = qr[c] * scale;
        }
        new Span<float>(ot, dh * QueryBlock).Clear();
        new Span<float>(m, QueryBlock).Fill(float.NegativeInfinity);
        new Span<float>(l, QueryBlock).Clear();

        for (int j0 = 0; j0 < kEnd; j0 += KeyBlock)
        {
            int nk = Math.Min(KeyBlock, kEnd - j0);
            ScoresT(qt, k + j0 * ks, ks, nk, dh, st);
            if (mask != null)
            {
                for (int j = 0; j < nk; j++)
                {
                    var mj = Vector512.Create(mask[j0 + j]);
                    float* sj = st + j * QueryBlock;
                    for (int y = 0; y < QueryBlock; y += Lanes) (Vector512.Load(sj + y) + mj).Store(sj + y);
                }
            }
            // Only a block that reaches past the first query's last key needs the causal mask.
            if (causal && j0 + nk - 1 > i0 + off) MaskDiagonal(st, nk, j0 - i0 - off);
            OnlineSoftmax(st, nk, m, l, alpha);
            AccumulatePV(st, v + j0 * vs, vs, nk, dh, alpha, ot);
        }

        for (int r = 0; r < rows; r++)
        {
            float* orow = o + (long)(i0 + r) * dh;
            if (float.IsNegativeInfinity(m[r]))
            {
                // Every key masked: zero output and lse = −∞, as the reference.
                new Span<float>(orow, dh).Clear();
                lse[i0 + r] = float.NegativeInfinity;
                continue;
            }
            float inv = 1f / l[r];
            for (int c = 0; c < dh; c++) orow[c] = ot[c * QueryBlock + r] * inv;
            lse[i0 + r] = m[r] + MathF.Log(l[r]);
        }
    }

    /// <summary>
    /// Sᵀ[j, 0..63] = Σc k[j, c]·Qᵀ[c, 0..63] for nk keys: four keys × four query vectors (16 accumulators) per
    /// step of c, then single keys for the rest.
    /// </summary>
    private static void ScoresT(float* qt, float* k, long ks, int nk, int dh, float* st)
    {
        int j = 0;
        for (; j + 4 <= nk; j += 4)
        {
            float* k0 = k + j * ks, k1 = k0 + ks, k2 = k1 + ks, k3 = k2 + ks;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
            float* qc = qt;
            for (int c = 0; c < dh; c++, qc += QueryBlock)
            {
                var q0 = Vector512.Load(qc);
                var q1 = Vector512.Load(qc + 16);
                var q2 = Vector512.Load(qc + 32);
                var q3 = Vector512.Load(qc + 48);
                var b0 = Vector512.Create(k0[c]);
                a00 = Vector512.FusedMultiplyAdd(q0, b0, a00);
                a01 = Vector512.FusedMultiplyAdd(q1, b0, a01);
                a02 = Vector512.FusedMultiplyAdd(q2, b0, a02);
                a03 = Vector512.FusedMultiplyAdd(q3, b0, a03);
                var b1 = Vector512.Create(k1[c]);
                a10 = Vector512.FusedMultiplyAdd(q0, b1, a10);
                a11 = Vector512.FusedMultiplyAdd(q1, b1, a11);
                a12 = Vector512.FusedMultiplyAdd(q2, b1, a12);
                a13 = Vector512.FusedMultiplyAdd(q3, b1, a13);
                var b2 = Vector512.Create(k2[c]);
                a20 = Vector512.FusedMultiplyAdd(q0, b2, a20);
                a21 = Vector512.FusedMultiplyAdd(q1, b2, a21);
                a22 = Vector512.FusedMultiplyAdd(q2, b2, a22);
                a23 = Vector512.FusedMultiplyAdd(q3, b2, a23);
                var b3 = Vector512.Create(k3[c]);
                a30 = Vector512.FusedMultiplyAdd(q0, b3, a30);
                a31 = Vector512.FusedMultiplyAdd(q1, b3, a31);
                a32 = Vector512.FusedMultiplyAdd(q2, b3, a32);
                a33 = Vector512.FusedMultiplyAdd(q3, b3, a33);
            }
            float* s = st + j * QueryBlock;
            a00.Store(s); a01.Store(s + 16); a02.Store(s + 32); a03.Store(s + 48);
            s += QueryBlock;
            a10.Store(s); a11.Store(s + 16); a12.Store(s + 32); a13.Store(s + 48);
            s += QueryBlock;
            a20.Store(s); a21.Store(s + 16); a22.Store(s + 32); a23.Store(s + 48);
            s += QueryBlock;
            a30.Store(s); a31.Store(s + 16); a32.Store(s + 32); a33.Store(s + 48);
        }
        for (; j < nk; j++)
        {
            float* kj = k + j * ks;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* qc = qt;
            for (int c = 0; c < dh; c++, qc += QueryBlock)
            {
                var bj = Vector512.Create(kj[c]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(qc), bj, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(qc + 16), bj, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(qc + 32), bj, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(qc + 48), bj, a3);
            }
            float* s = st + j * QueryBlock;
            a0.Store(s); a1.Store(s + 16); a2.Store(s + 32); a3.Store(s + 48);
        }
    }

    /// <summary>
    /// Causal mask of a diagonal block: query i0 + r sees key j0 + j iff i0 + r + off ≥ j0 + j, so with
    /// <paramref name="rel"/> = j0 − i0 − off the key is hidden from lanes r &lt; j + rel.
    /// </summary>
    private static void MaskDiagonal(float* st, int nk, int rel)
    {
        var ninf = Vector512.Create(float.NegativeInfinity);
        var lane = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int j = 0; j < nk; j++)
        {
            // Query i0 + r sees key j0 + j iff r ≥ j + rel.
            float first = j + rel;
            if (first <= 0) continue;
            float* sj = st + j * QueryBlock;
            for (int y = 0; y < QueryBlock; y += Lanes)
            {
                var hidden = Vector512.LessThan(lane + Vector512.Create((float)y), Vector512.Create(first));
                Vector512.ConditionalSelect(hidden, ninf, Vector512.Load(sj + y)).Store(sj + y);
            }
        }
    }

    /// <summary>
    /// One step of the online softmax over nk rows of Sᵀ, lane-parallel: m' = max(m, maxⱼ s), α = e^(m − m'),
    /// Pᵀ = e^(Sᵀ − m') in place, l = α·l + Σⱼ p. A lane with m' = −∞ (all keys so far masked) shifts by 0 instead,
    /// so it stays at p = α = 0 rather than NaN.
    /// </summary>
    private static void OnlineSoftmax(float* st, int nk, float* m, float* l, float* alpha)
    {
        var ninf = Vector512.Create(float.NegativeInfinity);
        for (int y = 0; y < QueryBlock; y += Lanes)
        {
            var mb = ninf;
            for (int j = 0; j < nk; j++) mb = Vector512.MaxNative(mb, Vector512.Load(st + j * QueryBlock + y));
            var mo = Vector512.Load(m + y);
            var mn = Vector512.MaxNative(mo, mb);
            var shift = Vector512.ConditionalSelect(Vector512.Equals(mn, ninf), Vector512<float>.Zero, mn);
            var a = Exp(mo - shift);
            var sum = Vector512<float>.Zero;
            for (int j = 0; j < nk; j++)
            {
                float* sj = st + j * QueryBlock + y;
                var p = Exp(Vector512.Load(sj) - shift);
                p.Store(sj);
                sum += p;
            }
            Vector512.FusedMultiplyAdd(Vector512.Load(l + y), a, sum).Store(l + y);
            mn.Store(m + y);
            a.Store(alpha + y);
        }
    }

    /// <summary>
    /// Oᵀ[c, 0..63] = α·Oᵀ[c, 0..63] + Σⱼ v[j, c]·Pᵀ[j, 0..63]: four channels × four query vectors per pass over the
    /// nk keys (Dh = 64, 96 are multiples of 4), then single channels.
    /// </summary>
    private static void AccumulatePV(float* pt, float* v, long vs, int nk, int dh, float* alpha, float* ot)
    {
        var al0 = Vector512.Load(alpha);
        var al1 = Vector512.Load(alpha + 16);
        var al2 = Vector512.Load(alpha + 32);
        var al3 = Vector512.Load(alpha + 48);
        int c = 0;
        for (; c + 4 <= dh; c += 4)
        {
            float* o0 = ot + c * QueryBlock, o1 = o0 + QueryBlock, o2 = o1 + QueryBlock, o3 = o2 + QueryBlock;
            var a00 = Vector512.Load(o0) * al0; var a01 = Vector512.Load(o0 + 16) * al1;
            var a02 = Vector512.Load(o0 + 32) * al2; var a03 = Vector512.Load(o0 + 48) * al3;
            var a10 = Vector512.Load(o1) * al0; var a11 = Vector512.Load(o1 + 16) * al1;
            var a12 = Vector512.Load(o1 + 32) * al2; var a13 = Vector512.Load(o1 + 48) * al3;
            var a20 = Vector512.Load(o2) * al0; var a21 = Vector512.Load(o2 + 16) * al1;
            var a22 = Vector512.Load(o2 + 32) * al2; var a23 = Vector512.Load(o2 + 48) * al3;
            var a30 = Vector512.Load(o3) * al0; var a31 = Vector512.Load(o3 + 16) * al1;
            var a32 = Vector512.Load(o3 + 32) * al2; var a33 = Vector512.Load(o3 + 48) * al3;
            float* pj = pt;
            float* vj = v + c;
            for (int j = 0; j < nk; j++, pj += QueryBlock, vj += vs)
            {
                var p0 = Vector512.Load(pj);
                var p1 = Vector512.Load(pj + 16);
                var p2 = Vector512.Load(pj + 32);
                var p3 = Vector512.Load(pj + 48);
                var b0 = Vector512.Create(vj[0]);
                a00 = Vector512.FusedMultiplyAdd(p0, b0, a00);
                a01 = Vector512.FusedMultiplyAdd(p1, b0, a01);
                a02 = Vector512.FusedMultiplyAdd(p2, b0, a02);
                a03 = Vector512.FusedMultiplyAdd(p3, b0, a03);
                var b1 = Vector512.Create(vj[1]);
                a10 = Vector512.FusedMultiplyAdd(p0, b1, a10);
                a11 = Vector512.FusedMultiplyAdd(p1, b1, a11);
                a12 = Vector512.FusedMultiplyAdd(p2, b1, a12);
                a13 = Vector512.FusedMultiplyAdd(p3, b1, a13);
                var b2 = Vector512.Create(vj[2]);
                a20 = Vector512.FusedMultiplyAdd(p0, b2, a20);
                a21 = Vector512.FusedMultiplyAdd(p1, b2, a21);
                a22 = Vector512.FusedMultiplyAdd(p2, b2, a22);
                a23 = Vector512.FusedMultiplyAdd(p3, b2, a23);
                var b3 = Vector512.Create(vj[3]);
                a30 = Vector512.FusedMultiplyAdd(p0, b3, a30);
                a31 = Vector512.FusedMultiplyAdd(p1, b3, a31);
                a32 = Vector512.FusedMultiplyAdd(p2, b3, a32);
                a33 = Vector512.FusedMultiplyAdd(p3, b3, a33);
            }
            a00.Store(o0); a01.Store(o0 + 16); a02.Store(o0 + 32); a03.Store(o0 + 48);
            a10.Store(o1); a11.Store(o1 + 16); a12.Store(o1 + 32); a13.Store(o1 + 48);
            a20.Store(o2); a21.Store(o2 + 16); a22.Store(o2 + 32); a23.Store(o2 + 48);
            a30.Store(o3); a31.Store(o3 + 16); a32.Store(o3 + 32); a33.Store(o3 + 48);
        }
        for (; c < dh; c++)
        {
            float* oc = ot + c * QueryBlock;
            var a0 = Vector512.Load(oc) * al0;
            var a1 = Vector512.Load(oc + 16) * al1;
            var a2 = Vector512.Load(oc + 32) * al2;
            var a3 = Vector512.Load(oc + 48) * al3;
            float* pj = pt;
            for (int j = 0; j < nk; j++, pj += QueryBlock)
            {
                var bj = Vector512.Create(v[j * vs + c]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(pj), bj, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(pj + 16), bj, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(pj + 32), bj, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(pj + 48), bj, a3);
            }
            a0.Store(oc); a1.Store(oc + 16); a2.Store(oc + 32); a3.Store(oc + 48);
        }
    }

    /// <summary>
    /// The decode path for small Tq (any Tq works; it is chosen for Tq ≤ <see cref="DecodeMaxQueries"/>): per (b, h)
    /// the scores of every query row against each K row in one pass over K, an exact softmax per row, then one pass
    /// over V accumulating all rows. The (b, h) pairs are shared among the threads.
    /// </summary>
    public static void Decode(float* q, Attention.Layout lq, float* k, Attention.Layout lk, float* v, Attention.Layout lv,
        float* mask, bool causal, float scale, int b, int h, int tq, int tk, int dh, float* o, float* lse)
    {
        if (b == 0 || h == 0 || tq == 0) return;
        long bh = (long)b * h;
        RunTasks(bh, (long)tq * Math.Max(tk, 1), (pair, s) =>
        {
            int bb = (int)(pair / h), hh = (int)(pair % h);
            DecodeHead(q + bb * lq.SB + hh * lq.SH, lq.ST, k + bb * lk.SB + hh * lk.SH, lk.ST,
                v + bb * lv.SB + hh * lv.SH, lv.ST, mask == null ? null : mask + (long)bb * tk, causal, scale,
                tq, tk, dh, o + pair * tq * dh, lse + pair * tq, s);
        });
    }

    /// <summary>One (b, h) of the decode path; s holds Tq rows of Tk scores.</summary>
    private static void DecodeHead(float* q, long qs, float* k, long ks, float* v, long vs, float* mask, bool causal,
        float scale, int tq, int tk, int dh, float* o, float* lse, float* s)
    {
        int off = tk - tq;
        // Keys past the last row's window are never read.
        int kEnd = causal ? Math.Min(tk, tq + off) : tk;
        for (int j = 0; j < kEnd; j++)
        {
            float* kj = k + j * ks;
            float mj = mask == null ? 0f : mask[j];
            for (int r = 0; r < tq; r++) s[(long)r * tk + j] = Dot(q + r * qs, kj, dh) * scale + mj;
        }
        for (int r = 0; r < tq; r++)
        {
            float* sr = s + (long)r * tk;
            int valid = causal ? Math.Min(tk, r + off + 1) : tk;
            float mx = float.NegativeInfinity;
            for (int j = 0; j < valid; j++) mx = MathF.Max(mx, sr[j]);
            float* orow = o + (long)r * dh;
            new Span<float>(orow, dh).Clear();
            if (float.IsNegativeInfinity(mx))
            {
                lse[r] = float.NegativeInfinity;
                new Span<float>(sr, tk).Clear();
                continue;
            }
            float l = VectorMath.ExpShiftSum(new Span<float>(sr, valid), mx);
            // Normalise p now so the pass over V ends with o itself.
            float inv = 1f / l;
            for (int j = 0; j < valid; j++) sr[j] *= inv;
            new Span<float>(sr + valid, tk - valid).Clear();
            lse[r] = mx + MathF.Log(l);
        }
        for (int j = 0; j < kEnd; j++)
        {
            float* vj = v + j * vs;
            for (int r = 0; r < tq; r++)
            {
                float p = s[(long)r * tk + j];
                if (p != 0f) Axpy(p, vj, o + (long)r * dh, dh);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        int c = 0;
        var acc = Vector512<float>.Zero;
        for (; c + 16 <= n; c += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + c), Vector512.Load(b + c), acc);
        float sum = Vector512.Sum(acc);
        for (; c < n; c++) sum += a[c] * b[c];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float alpha, float* x, float* y, int n)
    {
        int c = 0;
        var va = Vector512.Create(alpha);
        for (; c + 16 <= n; c += 16) Vector512.FusedMultiplyAdd(va, Vector512.Load(x + c), Vector512.Load(y + c)).Store(y + c);
        for (; c < n; c++) y[c] += alpha * x[c];
    }

    /// <summary>
    /// e^x in f32, sixteen lanes (Cephes expf: x = n·ln 2 + r, |r| ≤ ln 2 / 2, degree-6 polynomial, 2ⁿ through the
    /// exponent bits). x is clamped to [−87.3, 88.3], so e^−∞ gives 1.3e−38 rather than 0: a masked key adds that
    /// much weight, 38 orders below the largest term of its row, and a row with every key masked is caught by its
    /// max being −∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.MinNative(Vector512.MaxNative(x, Vector512.Create(-87.3f)), Vector512.Create(88.3f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p * r, r, r) + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    /// <summary>
    /// Runs tasks 0 … n − 1 on up to <see cref="MaxThreads"/> workers that take the next task from a shared counter;
    /// each worker owns <paramref name="scratchFloats"/> floats of 64-byte aligned scratch.
    /// </summary>
    private static void RunTasks(long n, long scratchFloats, TaskBody body)
    {
        int workers = (int)Math.Min(Math.Max(1, MaxThreads), n);
        long next = -1;
        void Worker()
        {
            // SAFETY: the block holds scratchFloats floats, is used by this worker only and freed when it finishes.
            float* buf = (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(scratchFloats, 16) * sizeof(float)), 64);
            try
            {
                for (long t = Interlocked.Increment(ref next); t < n; t = Interlocked.Increment(ref next)) body(t, buf);
            }
            finally
            {
                NativeMemory.AlignedFree(buf);
            }
        }
        if (workers == 1) Worker();
        else Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ => Worker());
    }

    private delegate void TaskBody(long task, float* scratch);
}
