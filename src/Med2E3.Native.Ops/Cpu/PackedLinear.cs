using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>
/// A <see cref="PreparedLinear"/> whose weight W [N, K] is packed once, at construction, into 32-column micro-panels
/// kept in a 2- or 4-byte dtype: panel j holds columns 32j .. 32j + 31 for all K steps contiguously (bf16: 64 bytes a
/// step, f32: 128 bytes), zero padded past N. bf16 storage stays bf16; f32 stays f32; f16 is widened to f32 panels
/// (f16 → bf16 is not exact). In <see cref="CpuPrecision.Bf16"/> every weight is rounded to bf16 panels once and each
/// activation is rounded to bf16 while it is packed, so the products are bf16 × bf16 accumulated in f32.
/// <para>Forward: for M ≤ 8 (decode, short prompts) the whole K runs per panel, so the weight is streamed from memory
/// once; otherwise K is blocked by 256 (a bf16 panel slice is 16 KiB, an f32 one 32 KiB: both stay in L1 while the
/// packed activation block, ≤ 240 rows, streams from L2). Worker threads take equal contiguous ranges of panels
/// (rows instead, when there are too few panels), so each streams its own part of the weight.</para>
/// </summary>
public sealed unsafe class PackedLinear : PreparedLinear
{
    private const int NR = PackedGemmKernels.NR;
    private const int KC = 256;
    private const int MC = 240;
    private const int TileFloats = 12 * NR;
    private const long CBlockBytes = 512 << 10;

    private byte* _panels;
    private readonly int _panelCount;
    private readonly bool _bf16Panels;
    private readonly int _stepBytes;
    private readonly long _panelBytes;

    /// <summary>Packs the stored weight (little-endian row-major bytes, read during the call only).</summary>
    public PackedLinear(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int outFeatures, int inFeatures,
        CpuPrecision precision) : base(outFeatures, inFeatures, storage, precision)
    {
        long expect = (long)outFeatures * inFeatures * (storage == WeightStorage.F32 ? 4 : 2);
        if (rowMajor.Length != expect)
        {
            throw new ArgumentException(
                $"PackedLinear: {rowMajor.Length} bytes for a [{outFeatures}, {inFeatures}] {storage} weight " +
                $"(needs {expect})", nameof(rowMajor));
        }
        _bf16Panels = storage == WeightStorage.Bf16 || precision == CpuPrecision.Bf16;
        _stepBytes = _bf16Panels ? 64 : 128;
        _panelCount = (outFeatures + NR - 1) / NR;
        _panelBytes = (long)inFeatures * _stepBytes;
        _panels = (byte*)NativeMemory.AlignedAlloc((nuint)(_panelCount * _panelBytes), 64);
        fixed (byte* pinned = rowMajor)
        {
            byte* src = pinned;
            int panels = _panelCount;
            int workers = Math.Max(1, Math.Min(DefaultMaxThreads, panels));
            if (workers > 1 && expect > (1 << 20))
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers },
                    t => PackPanels(src, panels * t / workers, panels * (t + 1) / workers));
            else PackPanels(src, 0, panels);
        }
    }

    /// <summary>Packs a weight; the fallback for <see cref="CpuPrecision.Bf16"/> where no vendor library is present.</summary>
    public static new PackedLinear Create(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int outFeatures,
        int inFeatures, CpuPrecision precision) => new(rowMajor, storage, outFeatures, inFeatures, precision);

    /// <summary>Frees the panels when the weight was not disposed.</summary>
    ~PackedLinear() => Free();

    /// <summary>Worker threads new instances use (defaults to the processor count).</summary>
    public static int DefaultMaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Largest number of worker threads <see cref="Forward"/> uses for this weight.</summary>
    public int MaxThreads { get; set; } = DefaultMaxThreads;

    /// <summary>
    /// For more than 24 rows, widen each bf16 panel slice to an f32 scratch once and run the f32 kernel over it (true),
    /// or widen in registers in every tile (false, the default). Both give the same numbers; on a loaded 2-core Xeon
    /// (AVX-512) the two were within noise of each other at ViT fc1 (M 2049), so the simpler default stays.
    /// </summary>
    public static bool WidenSlices { get; set; }

    /// <summary>True when the panels hold bf16 (2 bytes an element), false for f32.</summary>
    public bool Bf16Panels => _bf16Panels;

    /// <inheritdoc />
    public override long ResidentBytes => _panelCount * _panelBytes;

    /// <inheritdoc />
    public override string Kernel =>
        $"packed {(_bf16Panels ? "bf16" : "f32")} panels, {(Vector512.IsHardwareAccelerated ? "AVX-512" : "Vector512 (emulated)")} 12x32/8x32/4x32/1x32";

    private float ReadStored(byte* src, long i) => Storage switch
    {
        WeightStorage.F32 => ((float*)src)[i],
        WeightStorage.Bf16 => Tensors.Precision.Bf16ToFloat(((ushort*)src)[i]),
        _ => (float)((Half*)src)[i],
    };

    private void PackPanels(byte* src, int p0, int p1)
    {
        int n = OutFeatures, k = InFeatures;
        bool round = Precision == CpuPrecision.Bf16;
        for (int jp = p0; jp < p1; jp++)
        {
            byte* panel = _panels + jp * _panelBytes;
            int j0 = jp * NR;
            if (_bf16Panels)
            {
                uint* d = (uint*)panel;
                for (int c = 0; c < NR; c++)
                {
                    int j = j0 + c;
                    int word = c & 15, shift = c < 16 ? 0 : 16;
                    for (int p = 0; p < k; p++)
                    {
                        uint bits = 0;
                        if (j < n)
                        {
                            long i = (long)j * k + p;
                            bits = Storage == WeightStorage.Bf16 && !round
                                ? ((ushort*)src)[i]
                                : Tensors.Precision.FloatToBf16(ReadStored(src, i));
                        }
                        uint* w = d + (long)p * 16 + word;
                        *w = shift == 0 ? (*w & 0xFFFF0000u) | bits : (*w & 0xFFFFu) | (bits << 16);
                    }
                }
            }
            else
            {
                float* d = (float*)panel;
                for (int c = 0; c < NR; c++)
                {
                    int j = j0 + c;
                    for (int p = 0; p < k; p++) d[(long)p * NR + c] = j < n ? ReadStored(src, (long)j * k + p) : 0f;
                }
            }
        }
    }

    /// <summary>W[j, p] as the products use it.</summary>
    private float At(int j, int p)
    {
        byte* panel = _panels + (j / NR) * _panelBytes;
        int c = j % NR;
        if (!_bf16Panels) return ((float*)panel)[(long)p * NR + c];
        uint w = ((uint*)panel)[(long)p * 16 + (c & 15)];
        return BitConverter.UInt32BitsToSingle(c < 16 ? w << 16 : w & 0xFFFF0000u);
    }

    /// <inheritdoc />
    public override void Forward(float* x, int m, int ldx, float* y, int ldy, float* bias)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        if (m == 0) return;
        if (ldx < InFeatures) throw new ArgumentOutOfRangeException(nameof(ldx), ldx, $"PackedLinear.Forward: ldx below in features {InFeatures}");
        if (ldy < OutFeatures) throw new ArgumentOutOfRangeException(nameof(ldy), ldy, $"PackedLinear.Forward: ldy below out features {OutFeatures}");
        if (x == null || y == null) throw new ArgumentNullException(x == null ? nameof(x) : nameof(y), "PackedLinear.Forward: null buffer");

        int k = InFeatures;
        // Short inputs run all of K per panel so the weight is read from memory once; long ones block K for L1.
        int kc = m <= 8 ? k : Math.Min(KC, k);
        double flops = 2.0 * m * OutFeatures * k;
        int threads = Math.Max(1, Math.Min(MaxThreads, (int)Math.Min(64, flops / (1 << 20) + 1)));
        int rowTiles = (m + 11) / 12;
        // Split the panels when each worker gets several; otherwise split the rows (N small next to M).
        bool splitRows = _panelCount < 4 * threads && rowTiles >= 2 * threads;
        int workers = splitRows ? Math.Min(threads, rowTiles) : Math.Min(threads, _panelCount);
        int mcMax = Math.Min(MC, (m + 11) / 12 * 12);
        nuint scratch = (nuint)(((long)mcMax * kc + TileFloats + (long)kc * NR) * 4);

        void Worker(int t)
        {
            int r0 = 0, r1 = m, p0 = 0, p1 = _panelCount;
            if (splitRows)
            {
                r0 = Math.Min(m, (int)((long)rowTiles * t / workers) * 12);
                r1 = Math.Min(m, (int)((long)rowTiles * (t + 1) / workers) * 12);
            }
            else
            {
                p0 = (int)((long)_panelCount * t / workers);
                p1 = (int)((long)_panelCount * (t + 1) / workers);
            }
            float* aPack = (float*)NativeMemory.AlignedAlloc(scratch, 64);
            try
            {
                if (_bf16Panels) Run<Bf16Step>(x, ldx, y, ldy, bias, r0, r1, p0, p1, kc, aPack);
                else Run<F32Step>(x, ldx, y, ldy, bias, r0, r1, p0, p1, kc, aPack);
            }
            finally
            {
                NativeMemory.AlignedFree(aPack);
            }
        }

        if (workers > 1) Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, Worker);
        else Worker(0);
    }

    private void Run<TB>(float* x, int ldx, float* y, int ldy, float* bias, int r0, int r1, int p0, int p1, int kc,
        float* aPack) where TB : struct, IPanelStep
    {
        int n = OutFeatures, k = InFeatures;
        bool round = Precision == CpuPrecision.Bf16;
        float* tile = aPack + (long)Math.Min(MC, (r1 - r0 + 11) / 12 * 12) * kc;
        float* wide = tile + TileFloats;
        // Loop order: when this worker's C block (≤ MC rows × its columns) fits in L2, the K blocks run innermost so
        // it stays there and only the weight slices stream from L3; otherwise the rows run inside each K block so the
        // K block's weight slices (≤ 16 or 32 KiB a panel) stay in L2 while C streams. Same sums in the same order.
        bool cInL2 = (long)Math.Min(MC, r1 - r0) * (p1 - p0) * NR * 4 <= CBlockBytes;
        if (cInL2)
        {
            for (int ic = r0; ic < r1; ic += MC)
                for (int pc = 0; pc < k; pc += kc)
                    Block(ic, Math.Min(MC, r1 - ic), pc, Math.Min(kc, k - pc));
        }
        else
        {
            for (int pc = 0; pc < k; pc += kc)
                for (int ic = r0; ic < r1; ic += MC)
                    Block(ic, Math.Min(MC, r1 - ic), pc, Math.Min(kc, k - pc));
        }

        // Rows [ic, ic + mc) × K block [pc, pc + kw) × this worker's panels.
        void Block(int ic, int mc, int pc, int kw)
        {
            bool first = pc == 0;
            PackedGemmKernels.PackA(x, ldx, ic, mc, pc, kw, round, aPack);
            // Many row tiles per panel slice: widen the bf16 slice to f32 once (it stays in L1) and run the f32
            // kernel, instead of widening it again in registers for every tile.
            bool widen = typeof(TB) == typeof(Bf16Step) && mc > 24 && WidenSlices;
            for (int jp = p0; jp < p1; jp++)
            {
                byte* bp = _panels + jp * _panelBytes + (long)pc * _stepBytes;
                if (widen)
                {
                    PackedGemmKernels.WidenSlice(bp, kw, wide);
                    bp = (byte*)wide;
                }
                int j0 = jp * NR;
                int nw = Math.Min(NR, n - j0);
                float* ap = aPack;
                for (int ir = 0; ir < mc;)
                {
                    int mr = PackedGemmKernels.RowsFor(mc - ir);
                    if (widen) PackedGemmKernels.Tile<F32Step>(mr, kw, ap, bp, tile);
                    else PackedGemmKernels.Tile<TB>(mr, kw, ap, bp, tile);
                    PackedGemmKernels.Merge(tile, y + (long)(ic + ir) * ldy + j0, ldy, Math.Min(mr, mc - ir), nw, first,
                        bias == null ? null : bias + j0);
                    ap += (long)mr * kw;
                    ir += mr;
                }
            }
        }
    }

    /// <summary>dx = dy·W, with W unpacked to f32 256 rows at a time (bounded scratch) and the blocked GEMM.</summary>
    public override void BackwardInput(float* dy, int m, float* dx)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        if (m == 0) return;
        int n = OutFeatures, k = InFeatures;
        const int Rows = 256;
        float* w = (float*)NativeMemory.AlignedAlloc((nuint)((long)Math.Min(Rows, n) * k * 4), 64);
        try
        {
            for (int n0 = 0; n0 < n; n0 += Rows)
            {
                int nb = Math.Min(Rows, n - n0);
                UnpackRows(n0, nb, w);
                Gemm.Sgemm(false, false, m, k, nb, 1f, dy + n0, n, w, k, n0 == 0 ? 0f : 1f, dx, k, null);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(w);
        }
    }

    private void UnpackRows(int n0, int nb, float* dst)
    {
        int k = InFeatures;
        for (int j = 0; j < nb; j++)
            for (int p = 0; p < k; p++) dst[(long)j * k + p] = At(n0 + j, p);
    }

    /// <inheritdoc />
    public override void Unpack(Span<float> destination)
    {
        ThrowIfDisposed();
        long len = (long)OutFeatures * InFeatures;
        if (destination.Length < len)
            throw new ArgumentException($"PackedLinear.Unpack: destination holds {destination.Length} of {len} values", nameof(destination));
        fixed (float* d = destination) UnpackRows(0, OutFeatures, d);
    }

    /// <inheritdoc />
    protected override void Free()
    {
        if (_panels != null)
        {
            NativeMemory.AlignedFree(_panels);
            _panels = null;
        }
    }
}
