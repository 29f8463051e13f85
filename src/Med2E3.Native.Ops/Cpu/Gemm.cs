using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>
/// The fast CPU single-precision GEMM: C = alpha·op(A)·op(B) + beta·C + bias. For each (Nc = 1536) × (Kc = 256) block
/// of B, the block is packed into 32-column micro-panels (shared, L2/L3); the rows of C are split into equal shares of
/// 6-row micro-panels, one share per worker thread; each worker packs Mc = 96 rows of A at a time and, for each 6-row
/// micro-panel (held in L1), streams the B micro-panels through a register-tiled FMA micro-kernel (6 × 32 with
/// 512-bit vectors, 6 × 16 with 256-bit vectors). Matrix–vector shapes (M ≤ 4 with B as rows, the LLM decode path)
/// skip packing and use dot products over the rows of B.
/// </summary>
public static unsafe class Gemm
{
    private const int MR = 6;
    private const int KC = 256;
    private const int MC = 96;
    private const int NC = 1536;

    /// <summary>True when the CPU runs the 6 × 32 AVX-512 micro-kernel.</summary>
    public static bool WideKernelAvailable { get; } = Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// Selects the 6 × 32 AVX-512 micro-kernel (default where available) or the 6 × 16 256-bit one (tests use this to
    /// cover both on one machine).
    /// </summary>
    public static bool UseWideKernel
    {
        get => _wide;
        set => _wide = value && WideKernelAvailable;
    }

    private static bool _wide = WideKernelAvailable;

    /// <summary>Columns per micro-tile of the kernel in use (16 or 32).</summary>
    public static int NR => _wide ? 32 : 16;

    /// <summary>Largest number of worker threads GEMM uses (defaults to the processor count).</summary>
    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// C[M,N] = alpha·op(A)·op(B) + beta·C + bias. op(A)[i,p] = transA ? A[p·lda + i] : A[i·lda + p];
    /// op(B)[p,j] = transB ? B[j·ldb + p] : B[p·ldb + j]. beta = 0 ignores C's old content. bias (N) may be null.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc, float* bias, bool parallel = true)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    c[(long)i * ldc + j] = (beta == 0 ? 0 : beta * c[(long)i * ldc + j]) + (bias != null ? bias[j] : 0);
            return;
        }
        if (m <= 4 && !transA && transB)
        {
            MatVecRows(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, parallel);
            return;
        }
        int nr = NR;
        int threads = parallel ? Math.Max(1, Math.Min(MaxThreads, (int)Math.Min(64, (long)m * n * k / (1 << 18) + 1))) : 1;
        int kcMax = Math.Min(KC, k);
        int ncMax = Math.Min(NC, RoundUp(n, nr));
        float* bPack = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((long)kcMax * ncMax * 4), 64);
        int aPackLen = MC * kcMax;
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    bool first = pc == 0;
                    int nPanels = (nc + nr - 1) / nr;
                    if (threads > 1 && nPanels > 1)
                        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                        {
                            for (int jp = t; jp < nPanels; jp += threads) PackB(transB, b, ldb, pc, kc, jc + jp * nr, Math.Min(nr, nc - jp * nr), nr, bPack + (long)jp * kc * nr);
                        });
                    else
                        for (int jp = 0; jp < nPanels; jp++) PackB(transB, b, ldb, pc, kc, jc + jp * nr, Math.Min(nr, nc - jp * nr), nr, bPack + (long)jp * kc * nr);

                    // Rows [r0, r1) in sub-blocks of MC: pack A, then for each A micro-panel (kept in L1) stream
                    // the B micro-panels of the packed B block (kept in L2).
                    void Rows(int r0, int r1, float* aPack)
                    {
                        float* tile = aPack + aPackLen;
                        for (int ic = r0; ic < r1; ic += MC)
                        {
                            int mc = Math.Min(MC, r1 - ic);
                            PackA(transA, a, lda, ic, mc, pc, kc, aPack);
                            for (int ir = 0; ir < mc; ir += MR)
                            {
                                int mw = Math.Min(MR, mc - ir);
                                float* ap = aPack + (long)ir * kc;
                                for (int jp = 0; jp < nPanels; jp++)
                                {
                                    int j0 = jc + jp * nr;
                                    int nw = Math.Min(nr, n - j0);
                                    float* bp = bPack + (long)jp * kc * nr;
                                    if (nr == 32) Kernel6x32(kc, ap, bp, tile);
                                    else Kernel6x16(kc, ap, bp, tile);
                                    StoreTile(tile, nr, c + (long)(ic + ir) * ldc + j0, ldc, mw, nw, alpha, beta, first, bias == null ? null : bias + j0);
                                }
                            }
                        }
                    }

                    int microPanels = (m + MR - 1) / MR;
                    int workers = Math.Min(threads, microPanels);
                    void Worker(int t)
                    {
                        float* aPack = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(aPackLen * 4 + TileBytes), 64);
                        try
                        {
                            // Equal shares of MR-row micro-panels per worker (balanced even when M/MC is small).
                            int r0 = (int)((long)microPanels * t / workers) * MR;
                            int r1 = Math.Min(m, (int)((long)microPanels * (t + 1) / workers) * MR);
                            Rows(r0, r1, aPack);
                        }
                        finally
                        {
                            System.Runtime.InteropServices.NativeMemory.AlignedFree(aPack);
                        }
                    }
                    if (workers > 1) Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, Worker);
                    else Worker(0);
                }
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(bPack);
        }
    }

    private const int TileBytes = MR * 32 * 4;

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>C[i, j] = alpha·dot(A[i, :], B[j, :]) + beta·C + bias: rows of B are contiguous (Linear with W [N, K]).</summary>
    private static void MatVecRows(int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta,
        float* c, int ldc, float* bias, bool parallel)
    {
        int chunks = parallel && (long)n * k > (1 << 16) ? Math.Min(MaxThreads * 4, n) : 1;
        void Range(int t)
        {
            int j0 = (int)((long)n * t / chunks), j1 = (int)((long)n * (t + 1) / chunks);
            for (int i = 0; i < m; i++)
            {
                var x = new ReadOnlySpan<float>(a + (long)i * lda, k);
                for (int j = j0; j < j1; j++)
                {
                    float d = alpha * TensorPrimitives.Dot(x, new ReadOnlySpan<float>(b + (long)j * ldb, k));
                    float* cij = c + (long)i * ldc + j;
                    *cij = d + (beta == 0 ? 0 : beta * *cij) + (bias != null ? bias[j] : 0);
                }
            }
        }
        if (chunks > 1) Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = MaxThreads }, Range);
        else Range(0);
    }

    /// <summary>Packs op(A)[ic..ic+mc, pc..pc+kc] into MR-row panels: panel r0, step p holds MR consecutive rows.</summary>
    private static void PackA(bool transA, float* a, int lda, int ic, int mc, int pc, int kc, float* dst)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mw = Math.Min(MR, mc - ir);
            float* d = dst + (long)ir * kc;
            if (!transA)
            {
                for (int r = 0; r < MR; r++)
                {
                    if (r < mw)
                    {
                        float* src = a + (long)(ic + ir + r) * lda + pc;
                        for (int p = 0; p < kc; p++) d[p * MR + r] = src[p];
                    }
                    else
                        for (int p = 0; p < kc; p++) d[p * MR + r] = 0;
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + ic + ir;
                    for (int r = 0; r < MR; r++) d[p * MR + r] = r < mw ? src[r] : 0;
                }
            }
        }
    }

    /// <summary>Packs op(B)[pc..pc+kc, j0..j0+nw] into one NR-column panel (zero padded).</summary>
    private static void PackB(bool transB, float* b, int ldb, int pc, int kc, int j0, int nw, int nr, float* dst)
    {
        if (!transB)
        {
            for (int p = 0; p < kc; p++)
            {
                float* src = b + (long)(pc + p) * ldb + j0;
                float* d = dst + (long)p * nr;
                if (nw == nr) new ReadOnlySpan<float>(src, nr).CopyTo(new Span<float>(d, nr));
                else
                {
                    for (int j = 0; j < nw; j++) d[j] = src[j];
                    for (int j = nw; j < nr; j++) d[j] = 0;
                }
            }
        }
        else
        {
            for (int j = 0; j < nr; j++)
            {
                if (j < nw)
                {
                    float* src = b + (long)(j0 + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) dst[(long)p * nr + j] = src[p];
                }
                else
                    for (int p = 0; p < kc; p++) dst[(long)p * nr + j] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma256(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    // The accumulators must not be live across any call, or RyuJIT spills them inside the loop; hence the tile is
    // passed in (no stackalloc zeroing helper) and written back by the caller.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* ap, float* bp, float* tile)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* aEnd = ap + (long)kc * MR;
        do
        {
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + 8);
            var a0 = Vector256.Create(ap[0]);
            c00 = Fma256(a0, b0, c00); c01 = Fma256(a0, b1, c01);
            var a1 = Vector256.Create(ap[1]);
            c10 = Fma256(a1, b0, c10); c11 = Fma256(a1, b1, c11);
            var a2 = Vector256.Create(ap[2]);
            c20 = Fma256(a2, b0, c20); c21 = Fma256(a2, b1, c21);
            var a3 = Vector256.Create(ap[3]);
            c30 = Fma256(a3, b0, c30); c31 = Fma256(a3, b1, c31);
            var a4 = Vector256.Create(ap[4]);
            c40 = Fma256(a4, b0, c40); c41 = Fma256(a4, b1, c41);
            var a5 = Vector256.Create(ap[5]);
            c50 = Fma256(a5, b0, c50); c51 = Fma256(a5, b1, c51);
            ap += MR;
            bp += 16;
        }
        while (ap < aEnd);
        c00.Store(tile); c01.Store(tile + 8);
        c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40);
        c30.Store(tile + 48); c31.Store(tile + 56);
        c40.Store(tile + 64); c41.Store(tile + 72);
        c50.Store(tile + 80); c51.Store(tile + 88);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(int kc, float* ap, float* bp, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // A do-while over a pointer keeps RyuJIT from spilling the accumulators on the back edge (kc ≥ 1).
        float* aEnd = ap + (long)kc * MR;
        do
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + 16);
            var a0 = Vector512.Create(ap[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(ap[1]);
            c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(ap[2]);
            c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(ap[3]);
            c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(ap[4]);
            c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(ap[5]);
            c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51);
            ap += MR;
            bp += 32;
        }
        while (ap < aEnd);
        c00.Store(tile); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile(float* tile, int nr, float* c, int ldc, int mw, int nw, float alpha, float beta,
        bool first, float* bias)
    {
        for (int r = 0; r < mw; r++)
        {
            float* t = tile + r * nr;
            float* cr = c + (long)r * ldc;
            if (!first)
            {
                var dst = new Span<float>(cr, nw);
                if (alpha == 1) TensorPrimitives.Add(dst, new ReadOnlySpan<float>(t, nw), dst);
                else TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(t, nw), alpha, dst, dst);
            }
            else
            {
                for (int j = 0; j < nw; j++)
                {
                    float v = alpha * t[j];
                    if (beta != 0) v += beta * cr[j];
                    if (bias != null) v += bias[j];
                    cr[j] = v;
                }
            }
        }
    }
}
