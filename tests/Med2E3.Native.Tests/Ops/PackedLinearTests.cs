using System.Runtime.InteropServices;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Ops;

/// <summary>
/// PackedLinear against a float64 reference computed from the stored values (and, in bf16 precision, from x and W
/// rounded to bf16 first, which is what the products see).
/// </summary>
public unsafe class PackedLinearTests
{
    private static byte[] Store(float[] w, WeightStorage storage)
    {
        switch (storage)
        {
            case WeightStorage.F32: return MemoryMarshal.AsBytes(w.AsSpan()).ToArray();
            case WeightStorage.Bf16:
                return MemoryMarshal.AsBytes(w.Select(Precision.FloatToBf16).ToArray().AsSpan()).ToArray();
            default:
                return MemoryMarshal.AsBytes(w.Select(v => (Half)v).ToArray().AsSpan()).ToArray();
        }
    }

    /// <summary>The stored value as f32, read back from the bytes independently of the code under test.</summary>
    private static float[] Stored(byte[] bytes, WeightStorage storage) => storage switch
    {
        WeightStorage.F32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
        WeightStorage.Bf16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray()
            .Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16)).ToArray(),
        _ => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
    };

    /// <summary>Round to nearest even at bit 16, written here from the definition (no NaN/Inf in these inputs).</summary>
    private static float Bf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        uint rest = u & 0xFFFF, keep = u & 0xFFFF0000;
        if (rest > 0x8000 || (rest == 0x8000 && (keep & 0x10000) != 0)) keep += 0x10000;
        return BitConverter.UInt32BitsToSingle(keep);
    }

    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v = 0.05f + (float)r.NextDouble() * 1.95f;
            a[i] = r.Next(2) == 0 ? v : -v;
        }
        return a;
    }

    private static void CheckForward(WeightStorage storage, CpuPrecision precision, int m, int n, int k, bool withBias,
        int threads, int padX = 0, int padY = 0)
    {
        int seed = m * 1009 + n * 31 + k * 7 + (int)storage * 3 + (int)precision;
        float[] w = Random(n * k, seed);
        byte[] bytes = Store(w, storage);
        float[] ws = Stored(bytes, storage);
        if (precision == CpuPrecision.Bf16) ws = ws.Select(Bf16).ToArray();
        int ldx = k + padX, ldy = n + padY;
        float[] x = Random(m * ldx, seed + 1);
        float[] bias = Random(n, seed + 2);
        float[] y = Enumerable.Repeat(float.NaN, m * ldy).ToArray();
        using var lin = new PackedLinear(bytes, storage, n, k, precision) { MaxThreads = threads };
        fixed (float* px = x, py = y, pb = bias) lin.Forward(px, m, ldx, py, ldy, withBias ? pb : null);

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = withBias ? bias[j] : 0, mag = withBias ? Math.Abs(bias[j]) : 0;
                for (int p = 0; p < k; p++)
                {
                    float xv = x[i * ldx + p];
                    if (precision == CpuPrecision.Bf16) xv = Bf16(xv);
                    double t = (double)xv * ws[(long)j * k + p];
                    s += t;
                    mag += Math.Abs(t);
                }
                double got = y[i * ldy + j];
                // f32 accumulation: error grows with the number of terms, relative to Σ|terms|.
                double tol = 4e-7 * Math.Sqrt(k + 1) * mag + 1e-30;
                Assert.True(Math.Abs(got - s) <= tol,
                    $"{storage}/{precision} m={m} n={n} k={k} y[{i},{j}] = {got}, expected {s} (tol {tol:E2})");
            }
            // Padding of y past N is not written.
            for (int j = n; j < ldy; j++) Assert.True(float.IsNaN(y[i * ldy + j]), "wrote past N");
        }
    }

    public static TheoryData<WeightStorage, CpuPrecision> Kinds()
    {
        var d = new TheoryData<WeightStorage, CpuPrecision>();
        foreach (var s in new[] { WeightStorage.F32, WeightStorage.Bf16, WeightStorage.F16 })
            foreach (var p in new[] { CpuPrecision.F32, CpuPrecision.Bf16 })
                d.Add(s, p);
        return d;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ForwardMatchesReferenceOverShapes(WeightStorage storage, CpuPrecision precision)
    {
        foreach (int m in new[] { 1, 2, 5, 17, 64 })
            foreach (var (n, k) in new[] { (1, 1), (7, 33), (33, 7), (95, 257), (257, 95) })
                CheckForward(storage, precision, m, n, k, withBias: (m + n) % 2 == 0, threads: 2);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ForwardLargeMBlocksKAndRows(WeightStorage storage, CpuPrecision precision)
    {
        // 300 rows: two MC blocks with a 12/8/4-row remainder mix; K 600: three K blocks, the last partial.
        CheckForward(storage, precision, 300, 70, 600, withBias: true, threads: 2);
        CheckForward(storage, precision, 300, 257, 33, withBias: false, threads: 1);
    }

    [Theory]
    [InlineData(WeightStorage.Bf16)]
    [InlineData(WeightStorage.F32)]
    public void WideOutputStreamsCAcrossKBlocks(WeightStorage storage)
    {
        // One worker with 250 rows × 1100 columns: its C block is past the L2 budget, so the K blocks run outermost.
        CheckForward(storage, CpuPrecision.F32, 250, 1100, 300, withBias: true, threads: 1);
    }

    [Fact]
    public void WidenedSlicesGiveTheSameBits()
    {
        int m = 300, n = 70, k = 600;
        byte[] bytes = Store(Random(n * k, 21), WeightStorage.Bf16);
        float[] x = Random(m * k, 22);
        var y0 = new float[m * n];
        var y1 = new float[m * n];
        using var lin = new PackedLinear(bytes, WeightStorage.Bf16, n, k, CpuPrecision.F32);
        bool old = PackedLinear.WidenSlices;
        try
        {
            fixed (float* px = x, p0 = y0, p1 = y1)
            {
                PackedLinear.WidenSlices = false;
                lin.Forward(px, m, k, p0, n, null);
                PackedLinear.WidenSlices = true;
                lin.Forward(px, m, k, p1, n, null);
            }
        }
        finally
        {
            PackedLinear.WidenSlices = old;
        }
        Assert.Equal(y0, y1);
        // And the widened path is right, not just equal: spot check against float64.
        float[] ws = Stored(bytes, WeightStorage.Bf16);
        foreach (var (i, j) in new[] { (0, 0), (299, 69), (150, 33) })
        {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++)
            {
                s += (double)x[i * k + p] * ws[j * k + p];
                mag += Math.Abs((double)x[i * k + p] * ws[j * k + p]);
            }
            Assert.True(Math.Abs(y1[i * n + j] - s) <= 4e-7 * Math.Sqrt(k) * mag);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    public void ThreadCountsAndSplitsAgree(int threads, int split)
    {
        // split 1: many panels (N split); split 2: few panels, many rows (M split); split 3: decode shape.
        var (m, n, k) = split switch { 1 => (40, 300, 65), 2 => (200, 40, 65), _ => (1, 1000, 129) };
        CheckForward(WeightStorage.Bf16, CpuPrecision.F32, m, n, k, withBias: true, threads: threads);
        CheckForward(WeightStorage.F32, CpuPrecision.F32, m, n, k, withBias: false, threads: threads);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(64)]
    public void StridesAreHonoured(int m)
    {
        CheckForward(WeightStorage.Bf16, CpuPrecision.F32, m, 33, 95, withBias: true, threads: 2, padX: 5, padY: 3);
        CheckForward(WeightStorage.F32, CpuPrecision.Bf16, m, 95, 33, withBias: false, threads: 2, padX: 1, padY: 9);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void UnpackIsExact(WeightStorage storage, CpuPrecision precision)
    {
        int n = 95, k = 33;
        float[] w = Random(n * k, 5);
        byte[] bytes = Store(w, storage);
        float[] expect = Stored(bytes, storage);
        if (precision == CpuPrecision.Bf16) expect = expect.Select(Bf16).ToArray();
        using var lin = PackedLinear.Create(bytes, storage, n, k, precision);
        var got = new float[n * k];
        lin.Unpack(got);
        for (int i = 0; i < got.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(expect[i]), BitConverter.SingleToUInt32Bits(got[i]));
        Assert.Equal(storage == WeightStorage.Bf16 || precision == CpuPrecision.Bf16, lin.Bf16Panels);
        Assert.Equal((long)(n + 31) / 32 * k * (lin.Bf16Panels ? 64 : 128), lin.ResidentBytes);
    }

    [Theory]
    [InlineData(WeightStorage.Bf16, CpuPrecision.F32, 1, 300, 257)]
    [InlineData(WeightStorage.F32, CpuPrecision.F32, 5, 95, 33)]
    [InlineData(WeightStorage.F16, CpuPrecision.Bf16, 17, 600, 7)]
    public void BackwardInputMatchesReference(WeightStorage storage, CpuPrecision precision, int m, int n, int k)
    {
        float[] w = Random(n * k, 11);
        byte[] bytes = Store(w, storage);
        float[] ws = Stored(bytes, storage);
        if (precision == CpuPrecision.Bf16) ws = ws.Select(Bf16).ToArray();
        float[] dy = Random(m * n, 12);
        float[] dx = new float[m * k];
        using var lin = new PackedLinear(bytes, storage, n, k, precision);
        fixed (float* pdy = dy, pdx = dx) lin.BackwardInput(pdy, m, pdx);
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
            {
                double s = 0, mag = 0;
                for (int j = 0; j < n; j++)
                {
                    double t = (double)dy[i * n + j] * ws[(long)j * k + p];
                    s += t;
                    mag += Math.Abs(t);
                }
                Assert.True(Math.Abs(dx[i * k + p] - s) <= 4e-7 * Math.Sqrt(n) * mag, $"dx[{i},{p}] = {dx[i * k + p]}, expected {s}");
            }
    }

    [Fact]
    public void CreateF32PicksPackedWhereVectorsAreNative()
    {
        byte[] bytes = Store(Random(33 * 7, 3), WeightStorage.Bf16);
        using var lin = PreparedLinear.Create(bytes, WeightStorage.Bf16, 33, 7, CpuPrecision.F32);
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) Assert.IsType<PackedLinear>(lin);
        Assert.Equal(CpuPrecision.F32, lin.Precision);
    }

    [Fact]
    public void DisposeFreesAndForwardThenThrows()
    {
        byte[] bytes = Store(Random(40, 4), WeightStorage.F32);
        var lin = new PackedLinear(bytes, WeightStorage.F32, 8, 5, CpuPrecision.F32);
        lin.Dispose();
        lin.Dispose();
        Assert.True(lin.IsDisposed);
        var x = new float[5];
        var y = new float[8];
        fixed (float* px = x, py = y)
        {
            float* a = px, b = py;
            Assert.Throws<ObjectDisposedException>(() => lin.Forward(a, 1, 5, b, 8, null));
        }
        Assert.Throws<ObjectDisposedException>(() => lin.Unpack(new float[40]));
    }

    [Fact]
    public void BadInputThrowsTypedExceptions()
    {
        Assert.Throws<ArgumentException>(() => new PackedLinear(new byte[10], WeightStorage.Bf16, 2, 3, CpuPrecision.F32));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PackedLinear(Array.Empty<byte>(), WeightStorage.Bf16, 0, 3, CpuPrecision.F32));
        using var lin = new PackedLinear(new byte[24], WeightStorage.F32, 2, 3, CpuPrecision.F32);
        var x = new float[8];
        var y = new float[8];
        fixed (float* px = x, py = y)
        {
            float* a = px, b = py;
            Assert.Throws<ArgumentOutOfRangeException>(() => lin.Forward(a, 1, 2, b, 2, null));
            Assert.Throws<ArgumentOutOfRangeException>(() => lin.Forward(a, 1, 3, b, 1, null));
        }
    }
}
