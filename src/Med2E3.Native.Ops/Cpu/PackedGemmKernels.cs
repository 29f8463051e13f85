using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>How one k-step of a 32-column weight micro-panel is stored and widened to two f32 vectors.</summary>
internal unsafe interface IPanelStep
{
    /// <summary>Bytes of one k-step (32 columns).</summary>
    static abstract int StepBytes { get; }

    /// <summary>Columns 0..15 of the step at <paramref name="p"/> as f32.</summary>
    static abstract Vector512<float> Lo(byte* p);

    /// <summary>Columns 16..31 of the step at <paramref name="p"/> as f32.</summary>
    static abstract Vector512<float> Hi(byte* p);
}

/// <summary>
/// bf16 step: 16 32-bit words, word i = bf16(column i) | bf16(column 16 + i) &lt;&lt; 16. Widening is exact and takes
/// one ALU op per 16 columns with no shuffle (a shift for the low half, a mask for the high half), and both can take
/// the step straight from memory.
/// </summary>
internal readonly unsafe struct Bf16Step : IPanelStep
{
    public static int StepBytes => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Lo(byte* p) => Vector512.ShiftLeft(Vector512.Load((uint*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Hi(byte* p) => (Vector512.Load((uint*)p) & Vector512.Create(0xFFFF0000u)).AsSingle();
}

/// <summary>f32 step: 32 floats, columns in order.</summary>
internal readonly unsafe struct F32Step : IPanelStep
{
    public static int StepBytes => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Lo(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Hi(byte* p) => Vector512.Load((float*)p + 16);
}

/// <summary>
/// Register-tiled micro-kernels over packed weight panels (see <see cref="PackedLinear"/>): an MR-row block of packed
/// activations times one 32-column weight panel slice of kc steps, accumulated in 2·MR zmm registers and written to
/// an MR × 32 f32 tile that the caller merges into y. 12 × 32 holds 24 accumulators + 2 widened B vectors + 1
/// broadcast (27 of 32 zmm) and issues 24 FMAs per 2 B loads; 8 × 32 and 4 × 32 cover short row remainders; 1 × 32
/// (four k-steps in flight) is the decode GEMV, bound by the weight stream. Written with the portable
/// <see cref="Vector512"/> API: exact on every machine, fast where AVX-512 is present.
/// </summary>
internal static unsafe class PackedGemmKernels
{
    /// <summary>Columns per weight micro-panel.</summary>
    internal const int NR = 32;

    /// <summary>12 × 32 tile: tile[r, c] = Σp ap[p·12 + r]·B[p, c] over kc ≥ 1 steps (A packed 12 rows per step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel12x32<TB>(int kc, float* ap, byte* bp, float* tile) where TB : struct, IPanelStep
    {
        Vector512<float> c0a = default, c0b = default;
        Vector512<float> c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default;
        Vector512<float> c4a = default, c4b = default;
        Vector512<float> c5a = default, c5b = default;
        Vector512<float> c6a = default, c6b = default;
        Vector512<float> c7a = default, c7b = default;
        Vector512<float> c8a = default, c8b = default;
        Vector512<float> c9a = default, c9b = default;
        Vector512<float> c10a = default, c10b = default;
        Vector512<float> c11a = default, c11b = default;
        // A do-while over a pointer keeps RyuJIT from spilling the accumulators on the back edge.
        float* aEnd = ap + (long)kc * 12;
        do
        {
            var b0 = TB.Lo(bp);
            var b1 = TB.Hi(bp);
            var a0 = Vector512.Create(ap[0]);
            c0a = Vector512.FusedMultiplyAdd(a0, b0, c0a); c0b = Vector512.FusedMultiplyAdd(a0, b1, c0b);
            var a1 = Vector512.Create(ap[1]);
            c1a = Vector512.FusedMultiplyAdd(a1, b0, c1a); c1b = Vector512.FusedMultiplyAdd(a1, b1, c1b);
            var a2 = Vector512.Create(ap[2]);
            c2a = Vector512.FusedMultiplyAdd(a2, b0, c2a); c2b = Vector512.FusedMultiplyAdd(a2, b1, c2b);
            var a3 = Vector512.Create(ap[3]);
            c3a = Vector512.FusedMultiplyAdd(a3, b0, c3a); c3b = Vector512.FusedMultiplyAdd(a3, b1, c3b);
            var a4 = Vector512.Create(ap[4]);
            c4a = Vector512.FusedMultiplyAdd(a4, b0, c4a); c4b = Vector512.FusedMultiplyAdd(a4, b1, c4b);
            var a5 = Vector512.Create(ap[5]);
            c5a = Vector512.FusedMultiplyAdd(a5, b0, c5a); c5b = Vector512.FusedMultiplyAdd(a5, b1, c5b);
            var a6 = Vector512.Create(ap[6]);
            c6a = Vector512.FusedMultiplyAdd(a6, b0, c6a); c6b = Vector512.FusedMultiplyAdd(a6, b1, c6b);
            var a7 = Vector512.Create(ap[7]);
            c7a = Vector512.FusedMultiplyAdd(a7, b0, c7a); c7b = Vector512.FusedMultiplyAdd(a7, b1, c7b);
            var a8 = Vector512.Create(ap[8]);
            c8a = Vector512.FusedMultiplyAdd(a8, b0, c8a); c8b = Vector512.FusedMultiplyAdd(a8, b1, c8b);
            var a9 = Vector512.Create(ap[9]);
            c9a = Vector512.FusedMultiplyAdd(a9, b0, c9a); c9b = Vector512.FusedMultiplyAdd(a9, b1, c9b);
            var a10 = Vector512.Create(ap[10]);
            c10a = Vector512.FusedMultiplyAdd(a10, b0, c10a); c10b = Vector512.FusedMultiplyAdd(a10, b1, c10b);
            var a11 = Vector512.Create(ap[11]);
            c11a = Vector512.FusedMultiplyAdd(a11, b0, c11a); c11b = Vector512.FusedMultiplyAdd(a11, b1, c11b);
            ap += 12;
            bp += TB.StepBytes;
        }
        while (ap < aEnd);
        c0a.Store(tile + 0); c0b.Store(tile + 16);
        c1a.Store(tile + 32); c1b.Store(tile + 48);
        c2a.Store(tile + 64); c2b.Store(tile + 80);
        c3a.Store(tile + 96); c3b.Store(tile + 112);
        c4a.Store(tile + 128); c4b.Store(tile + 144);
        c5a.Store(tile + 160); c5b.Store(tile + 176);
        c6a.Store(tile + 192); c6b.Store(tile + 208);
        c7a.Store(tile + 224); c7b.Store(tile + 240);
        c8a.Store(tile + 256); c8b.Store(tile + 272);
        c9a.Store(tile + 288); c9b.Store(tile + 304);
        c10a.Store(tile + 320); c10b.Store(tile + 336);
        c11a.Store(tile + 352); c11b.Store(tile + 368);
    }

    /// <summary>8 × 32 tile: tile[r, c] = Σp ap[p·8 + r]·B[p, c] over kc ≥ 1 steps (A packed 8 rows per step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel8x32<TB>(int kc, float* ap, byte* bp, float* tile) where TB : struct, IPanelStep
    {
        Vector512<float> c0a = default, c0b = default;
        Vector512<float> c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default;
        Vector512<float> c4a = default, c4b = default;
        Vector512<float> c5a = default, c5b = default;
        Vector512<float> c6a = default, c6b = default;
        Vector512<float> c7a = default, c7b = default;
        // A do-while over a pointer keeps RyuJIT from spilling the accumulators on the back edge.
        float* aEnd = ap + (long)kc * 8;
        do
        {
            var b0 = TB.Lo(bp);
            var b1 = TB.Hi(bp);
            var a0 = Vector512.Create(ap[0]);
            c0a = Vector512.FusedMultiplyAdd(a0, b0, c0a); c0b = Vector512.FusedMultiplyAdd(a0, b1, c0b);
            var a1 = Vector512.Create(ap[1]);
            c1a = Vector512.FusedMultiplyAdd(a1, b0, c1a); c1b = Vector512.FusedMultiplyAdd(a1, b1, c1b);
            var a2 = Vector512.Create(ap[2]);
            c2a = Vector512.FusedMultiplyAdd(a2, b0, c2a); c2b = Vector512.FusedMultiplyAdd(a2, b1, c2b);
            var a3 = Vector512.Create(ap[3]);
            c3a = Vector512.FusedMultiplyAdd(a3, b0, c3a); c3b = Vector512.FusedMultiplyAdd(a3, b1, c3b);
            var a4 = Vector512.Create(ap[4]);
            c4a = Vector512.FusedMultiplyAdd(a4, b0, c4a); c4b = Vector512.FusedMultiplyAdd(a4, b1, c4b);
            var a5 = Vector512.Create(ap[5]);
            c5a = Vector512.FusedMultiplyAdd(a5, b0, c5a); c5b = Vector512.FusedMultiplyAdd(a5, b1, c5b);
            var a6 = Vector512.Create(ap[6]);
            c6a = Vector512.FusedMultiplyAdd(a6, b0, c6a); c6b = Vector512.FusedMultiplyAdd(a6, b1, c6b);
            var a7 = Vector512.Create(ap[7]);
            c7a = Vector512.FusedMultiplyAdd(a7, b0, c7a); c7b = Vector512.FusedMultiplyAdd(a7, b1, c7b);
            ap += 8;
            bp += TB.StepBytes;
        }
        while (ap < aEnd);
        c0a.Store(tile + 0); c0b.Store(tile + 16);
        c1a.Store(tile + 32); c1b.Store(tile + 48);
        c2a.Store(tile + 64); c2b.Store(tile + 80);
        c3a.Store(tile + 96); c3b.Store(tile + 112);
        c4a.Store(tile + 128); c4b.Store(tile + 144);
        c5a.Store(tile + 160); c5b.Store(tile + 176);
        c6a.Store(tile + 192); c6b.Store(tile + 208);
        c7a.Store(tile + 224); c7b.Store(tile + 240);
    }

    /// <summary>4 × 32 tile: tile[r, c] = Σp ap[p·4 + r]·B[p, c] over kc ≥ 1 steps (A packed 4 rows per step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel4x32<TB>(int kc, float* ap, byte* bp, float* tile) where TB : struct, IPanelStep
    {
        Vector512<float> c0a = default, c0b = default;
        Vector512<float> c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default;
        // A do-while over a pointer keeps RyuJIT from spilling the accumulators on the back edge.
        float* aEnd = ap + (long)kc * 4;
        do
        {
            var b0 = TB.Lo(bp);
            var b1 = TB.Hi(bp);
            var a0 = Vector512.Create(ap[0]);
            c0a = Vector512.FusedMultiplyAdd(a0, b0, c0a); c0b = Vector512.FusedMultiplyAdd(a0, b1, c0b);
            var a1 = Vector512.Create(ap[1]);
            c1a = Vector512.FusedMultiplyAdd(a1, b0, c1a); c1b = Vector512.FusedMultiplyAdd(a1, b1, c1b);
            var a2 = Vector512.Create(ap[2]);
            c2a = Vector512.FusedMultiplyAdd(a2, b0, c2a); c2b = Vector512.FusedMultiplyAdd(a2, b1, c2b);
            var a3 = Vector512.Create(ap[3]);
            c3a = Vector512.FusedMultiplyAdd(a3, b0, c3a); c3b = Vector512.FusedMultiplyAdd(a3, b1, c3b);
            ap += 4;
            bp += TB.StepBytes;
        }
        while (ap < aEnd);
        c0a.Store(tile + 0); c0b.Store(tile + 16);
        c1a.Store(tile + 32); c1b.Store(tile + 48);
        c2a.Store(tile + 64); c2b.Store(tile + 80);
        c3a.Store(tile + 96); c3b.Store(tile + 112);
    }

    /// <summary>1 × 32 tile (the decode GEMV): four k-steps per iteration on separate accumulators hide FMA latency.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel1x32<TB>(int kc, float* ap, byte* bp, float* tile) where TB : struct, IPanelStep
    {
        Vector512<float> c0a = default, c0b = default, c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default, c3a = default, c3b = default;
        int s = TB.StepBytes;
        int p = 0;
        for (; p + 4 <= kc; p += 4)
        {
            var a0 = Vector512.Create(ap[p]);
            var a1 = Vector512.Create(ap[p + 1]);
            var a2 = Vector512.Create(ap[p + 2]);
            var a3 = Vector512.Create(ap[p + 3]);
            c0a = Vector512.FusedMultiplyAdd(a0, TB.Lo(bp), c0a); c0b = Vector512.FusedMultiplyAdd(a0, TB.Hi(bp), c0b);
            c1a = Vector512.FusedMultiplyAdd(a1, TB.Lo(bp + s), c1a); c1b = Vector512.FusedMultiplyAdd(a1, TB.Hi(bp + s), c1b);
            c2a = Vector512.FusedMultiplyAdd(a2, TB.Lo(bp + 2 * s), c2a); c2b = Vector512.FusedMultiplyAdd(a2, TB.Hi(bp + 2 * s), c2b);
            c3a = Vector512.FusedMultiplyAdd(a3, TB.Lo(bp + 3 * s), c3a); c3b = Vector512.FusedMultiplyAdd(a3, TB.Hi(bp + 3 * s), c3b);
            bp += 4 * s;
        }
        for (; p < kc; p++)
        {
            var a0 = Vector512.Create(ap[p]);
            c0a = Vector512.FusedMultiplyAdd(a0, TB.Lo(bp), c0a); c0b = Vector512.FusedMultiplyAdd(a0, TB.Hi(bp), c0b);
            bp += s;
        }
        ((c0a + c1a) + (c2a + c3a)).Store(tile);
        ((c0b + c1b) + (c2b + c3b)).Store(tile + 16);
    }

    /// <summary>Runs the <paramref name="mr"/>-row kernel (1, 4, 8 or 12).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Tile<TB>(int mr, int kc, float* ap, byte* bp, float* tile) where TB : struct, IPanelStep
    {
        switch (mr)
        {
            case 12: Kernel12x32<TB>(kc, ap, bp, tile); break;
            case 8: Kernel8x32<TB>(kc, ap, bp, tile); break;
            case 4: Kernel4x32<TB>(kc, ap, bp, tile); break;
            default: Kernel1x32<TB>(kc, ap, bp, tile); break;
        }
    }

    /// <summary>Widens kc bf16 panel steps to f32 steps (column order 0..31) at <paramref name="dst"/>.</summary>
    internal static void WidenSlice(byte* bp, int kc, float* dst)
    {
        var mask = Vector512.Create(0xFFFF0000u);
        uint* src = (uint*)bp;
        for (int p = 0; p < kc; p++)
        {
            var w = Vector512.Load(src + (long)p * 16);
            Vector512.ShiftLeft(w, 16).AsSingle().Store(dst + (long)p * NR);
            (w & mask).AsSingle().Store(dst + (long)p * NR + 16);
        }
    }

    /// <summary>Rows of the kernel used for <paramref name="remaining"/> rows (the last tile is zero padded).</summary>
    internal static int RowsFor(int remaining) => remaining > 8 ? 12 : remaining > 4 ? 8 : remaining > 1 ? 4 : 1;

    /// <summary>
    /// Packs x[r0 .. r0 + mc, pc .. pc + kc] into the tiles <see cref="RowsFor"/> picks: tile by tile, step p holds the
    /// tile's rows consecutively, zero padded. <paramref name="roundBf16"/> rounds each value to bf16 (nearest even).
    /// </summary>
    internal static void PackA(float* x, int ldx, int r0, int mc, int pc, int kc, bool roundBf16, float* dst)
    {
        for (int ir = 0; ir < mc;)
        {
            int mr = RowsFor(mc - ir);
            int mw = Math.Min(mr, mc - ir);
            for (int r = 0; r < mr; r++)
            {
                if (r < mw)
                {
                    float* src = x + (long)(r0 + ir + r) * ldx + pc;
                    if (roundBf16)
                        for (int p = 0; p < kc; p++) dst[(long)p * mr + r] = Tensors.Precision.RoundToBf16(src[p]);
                    else if (mr == 1)
                        new ReadOnlySpan<float>(src, kc).CopyTo(new Span<float>(dst, kc));
                    else
                        for (int p = 0; p < kc; p++) dst[(long)p * mr + r] = src[p];
                }
                else
                    for (int p = 0; p < kc; p++) dst[(long)p * mr + r] = 0;
            }
            dst += (long)mr * kc;
            ir += mr;
        }
    }

    /// <summary>
    /// y[r, c] (r &lt; mw, c &lt; nw) = tile[r, c] + (first ? bias[c] : y[r, c]): the first K block overwrites y and
    /// adds the bias, later blocks accumulate.
    /// </summary>
    internal static void Merge(float* tile, float* y, int ldy, int mw, int nw, bool first, float* bias)
    {
        for (int r = 0; r < mw; r++)
        {
            float* t = tile + r * NR;
            float* yr = y + (long)r * ldy;
            if (nw == NR)
            {
                var v0 = Vector512.Load(t);
                var v1 = Vector512.Load(t + 16);
                if (!first)
                {
                    v0 += Vector512.Load(yr);
                    v1 += Vector512.Load(yr + 16);
                }
                else if (bias != null)
                {
                    v0 += Vector512.Load(bias);
                    v1 += Vector512.Load(bias + 16);
                }
                v0.Store(yr);
                v1.Store(yr + 16);
            }
            else
            {
                for (int c = 0; c < nw; c++)
                    yr[c] = t[c] + (!first ? yr[c] : bias != null ? bias[c] : 0f);
            }
        }
    }
}
