using System.Runtime.InteropServices;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;

namespace Med2E3.Native.Tests.Ops;

/// <summary>
/// The oneDNN bf16 linear against a float64 oracle over the bf16-rounded x and W, its layout round trip, the f32 →
/// bf16 row conversion, and the probe with its fallback. Tests that need oneDNN skip, with the reason, without it.
/// </summary>
public sealed unsafe class DnnlBf16LinearTests
{
    private const double U = 1.0 / (1 << 24);              // unit roundoff of f32

    private static void RequireDnnl() =>
        Assert.SkipUnless(DnnlRuntime.IsAvailable, $"oneDNN is not installed here: {DnnlRuntime.UnavailableReason}");

    [Fact]
    public void RowConversionIsTheScalarRoundingBitForBit()
    {
        var rng = new SeededRandom(11);
        const int n = 1000 + 37;                              // a vector tail on every width
        float[] src = new float[n];
        for (int i = 0; i < n; i++)
        {
            src[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextUInt64());
        }

        // Ties (both parities), the largest finite values that round to infinity, infinities, NaNs, zeros, subnormals.
        uint[] special = [0x3F808000, 0x3F818000, 0x7F7FFFFF, 0xFF7F8000, 0x7F800000, 0xFF800000, 0x7FC00001,
            0xFF800001, 0x00000000, 0x80000000, 0x00000001, 0x807FFFFF];
        for (int i = 0; i < special.Length; i++)
        {
            src[i * 7] = BitConverter.UInt32BitsToSingle(special[i]);
        }

        ushort[] dst = new ushort[n];
        fixed (float* s = src)
        fixed (ushort* d = dst)
        {
            Bf16Convert.FromFloat(s, d, n);
        }

        for (int i = 0; i < n; i++)
        {
            Assert.True(Precision.FloatToBf16(src[i]) == dst[i],
                $"element {i}: 0x{BitConverter.SingleToUInt32Bits(src[i]):x8} → 0x{dst[i]:x4}, expected 0x{Precision.FloatToBf16(src[i]):x4}");
        }
    }

    public static TheoryData<int, int, int, int, int, bool> Shapes => new()
    {
        // m, n, k, extra ldx, extra ldy, bias
        { 1, 1, 1, 0, 0, false },
        { 1, 33, 17, 0, 0, true },
        { 1, 96, 3072, 5, 3, true },                           // decode: M = 1 over a wide K
        { 7, 64, 96, 0, 0, false },
        { 13, 100, 257, 3, 0, true },
        { 17, 129, 65, 0, 7, true },
        { 67, 48, 31, 1, 1, false },
        { 300, 47, 80, 0, 0, true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesTheFloat64OracleOverBf16Operands(int m, int n, int k, int padX, int padY, bool withBias)
    {
        RequireDnnl();
        var rng = new SeededRandom(1000 + m * 31 + n * 7 + k);
        float[] w = Gaussian(rng, (long)n * k);
        float[] b = withBias ? Gaussian(rng, n) : [];
        int ldx = k + padX, ldy = n + padY;
        float[] x = Gaussian(rng, (long)m * ldx);
        float[] y = new float[(long)m * ldy];
        const float canary = -12345.5f;
        Array.Fill(y, canary);

        using var linear = new DnnlBf16Linear(MemoryMarshal.AsBytes(w.AsSpan()), WeightStorage.F32, n, k);
        Assert.Contains("oneDNN", linear.Kernel, StringComparison.Ordinal);
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* pb = b)
        {
            linear.Forward(px, m, ldx, py, ldy, withBias ? pb : null);
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double exact = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double prod = (double)Precision.RoundToBf16(x[(long)i * ldx + p]) * Precision.RoundToBf16(w[(long)j * k + p]);
                    exact += prod;
                    magnitude += Math.Abs(prod);
                }

                if (withBias)
                {
                    exact += b[j];
                    magnitude += Math.Abs(b[j]);
                }

                // bf16 × bf16 products are exact in f32; any order of K f32 additions (and the bias) errs by at
                // most (K + 1)·u·Σ|terms|. An f32 (unrounded) x, or a wrong element, is off by ~2⁻⁹·Σ|terms|.
                double bound = 1.01 * (k + 1) * U * magnitude + 1e-30;
                double got = y[(long)i * ldy + j];
                Assert.True(Math.Abs(got - exact) <= bound,
                    $"y[{i}, {j}] = {got}, oracle {exact}, |error| {Math.Abs(got - exact):g3} > bound {bound:g3} (m {m}, n {n}, k {k})");
            }

            for (int j = n; j < ldy; j++)
            {
                Assert.Equal(canary, y[(long)i * ldy + j]);
            }
        }
    }

    [Fact]
    public void IntegerInputsGiveExactProducts()
    {
        RequireDnnl();
        const int m = 9, n = 70, k = 130;
        var rng = new SeededRandom(5);
        float[] w = Integers(rng, n * k);
        float[] x = Integers(rng, m * k);
        float[] b = Integers(rng, n);
        float[] y = new float[m * n];
        using var linear = new DnnlBf16Linear(MemoryMarshal.AsBytes(w.AsSpan()), WeightStorage.F32, n, k);
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* pb = b)
        {
            linear.Forward(px, m, k, py, n, pb);
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double exact = b[j];
                for (int p = 0; p < k; p++)
                {
                    exact += (double)x[i * k + p] * w[j * k + p];
                }

                Assert.Equal(exact, y[i * n + j]);
            }
        }
    }

    [Theory]
    [InlineData(WeightStorage.F32)]
    [InlineData(WeightStorage.Bf16)]
    [InlineData(WeightStorage.F16)]
    public void UnpackGivesTheBf16RoundedStoredWeights(WeightStorage storage)
    {
        RequireDnnl();
        const int n = 45, k = 77;                               // not multiples of oneDNN's 16 × 64 weight blocks
        var rng = new SeededRandom(21 + (int)storage);
        byte[] bytes = StoredWeights(rng, storage, n * k);
        using var linear = new DnnlBf16Linear(bytes, storage, n, k);
        float[] unpacked = new float[n * k];
        linear.Unpack(unpacked);
        for (int i = 0; i < n * k; i++)
        {
            float stored = storage switch
            {
                WeightStorage.F32 => BitConverter.ToSingle(bytes, i * 4),
                WeightStorage.Bf16 => Precision.Bf16ToFloat(BitConverter.ToUInt16(bytes, i * 2)),
                _ => (float)BitConverter.ToHalf(bytes, i * 2),
            };
            float expected = Precision.RoundToBf16(stored);
            Assert.True(expected == unpacked[i], $"W flat {i}: {unpacked[i]}, expected {expected} ({storage} storage)");
        }

        Assert.True(linear.ResidentBytes >= (long)n * k * 2, $"{linear.ResidentBytes} bytes for {n}×{k} bf16");
    }

    [Fact]
    public void BackwardInputMatchesTheFloat64OracleThroughTheRoundedWeight()
    {
        RequireDnnl();
        const int m = 5, n = 37, k = 53;
        var rng = new SeededRandom(8);
        float[] w = Gaussian(rng, n * k);
        float[] dy = Gaussian(rng, m * n);
        float[] dx = new float[m * k];
        using var linear = new DnnlBf16Linear(MemoryMarshal.AsBytes(w.AsSpan()), WeightStorage.F32, n, k);
        fixed (float* pdy = dy)
        fixed (float* pdx = dx)
        {
            linear.BackwardInput(pdy, m, pdx);
        }

        for (int i = 0; i < m; i++)
        {
            for (int p = 0; p < k; p++)
            {
                double exact = 0, magnitude = 0;
                for (int j = 0; j < n; j++)
                {
                    double prod = (double)dy[i * n + j] * Precision.RoundToBf16(w[j * k + p]);
                    exact += prod;
                    magnitude += Math.Abs(prod);
                }

                double bound = 1.01 * (2 * n + 1) * U * magnitude + 1e-30;
                Assert.True(Math.Abs(dx[i * k + p] - exact) <= bound, $"dx[{i}, {p}] = {dx[i * k + p]}, oracle {exact}");
            }
        }
    }

    [Fact]
    public void ManyRowCountsOnOneWeightAgreeWithTheReferenceImplementation()
    {
        RequireDnnl();
        // More distinct M than the primitive cache holds, then the first ones again, so the cache refills.
        const int n = 24, k = 40;
        var rng = new SeededRandom(3);
        float[] w = Gaussian(rng, n * k);
        byte[] bytes = MemoryMarshal.AsBytes(w.AsSpan()).ToArray();
        using var dnnl = new DnnlBf16Linear(bytes, WeightStorage.F32, n, k);
        using var reference = new WidenedLinear(bytes, WeightStorage.F32, n, k, CpuPrecision.Bf16);
        int[] ms = [.. Enumerable.Range(1, 40), 1, 2, 3, 2049];
        foreach (int m in ms)
        {
            float[] x = Gaussian(rng, m * k);
            float[] a = new float[m * n], r = new float[m * n];
            fixed (float* px = x)
            fixed (float* pa = a)
            fixed (float* pr = r)
            {
                dnnl.Forward(px, m, k, pa, n, null);
                reference.Forward(px, m, k, pr, n, null);
            }

            double err = 0, norm = 0;
            for (int i = 0; i < a.Length; i++)
            {
                err += ((double)a[i] - r[i]) * ((double)a[i] - r[i]);
                norm += (double)r[i] * r[i];
            }

            // Both sum the same exact products in f32, in different orders: NMSE near (K·u)², far below 1e-10.
            Assert.True(err / norm <= 1e-10, $"M = {m}: NMSE {err / norm:g3} against the reference implementation");
        }
    }

    [Fact]
    public void CreateRunsOneDnnWhereItHasBf16DotProducts()
    {
        float[] w = Gaussian(new SeededRandom(4), 6 * 10);
        using PreparedLinear linear = PreparedLinear.Create(MemoryMarshal.AsBytes(w.AsSpan()), WeightStorage.F32, 6, 10,
            CpuPrecision.Bf16);
        string path = CpuMatMulPath.Describe(CpuPrecision.Bf16);
        if (CpuMatMulPath.Bf16UsesDnnl)
        {
            Assert.IsType<DnnlBf16Linear>(linear);
            Assert.StartsWith($"bf16: oneDNN {DnnlRuntime.Version} ", path, StringComparison.Ordinal);
        }
        else
        {
            AssertOwnBf16Kernel(linear);
            Assert.StartsWith("bf16: own kernels (", path, StringComparison.Ordinal);
        }

        Assert.Equal(CpuPrecision.Bf16, linear.Precision);
        Assert.StartsWith("f32: own kernels", CpuMatMulPath.Describe(CpuPrecision.F32), StringComparison.Ordinal);
    }

    [Fact]
    public void TheProbeReadsTheSwitchAndTheOverride()
    {
        Dictionary<string, string> env = new() { ["MED2E3_DNNL"] = "0" };
        Assert.True(DnnlLibraryProbe.IsDisabled(n => env.GetValueOrDefault(n)));
        env["MED2E3_DNNL"] = "OFF";
        Assert.True(DnnlLibraryProbe.IsDisabled(n => env.GetValueOrDefault(n)));
        env["MED2E3_DNNL"] = "1";
        Assert.False(DnnlLibraryProbe.IsDisabled(n => env.GetValueOrDefault(n)));
        Assert.False(DnnlLibraryProbe.IsDisabled(_ => null));

        Assert.Equal(["libdnnl.so.2", "libdnnl.so"], DnnlLibraryProbe.Candidates(_ => null, windows: false));
        env["MED2E3_DNNL_LIB"] = " /opt/dnnl/lib/libdnnl.so.2 ";
        Assert.Equal(["/opt/dnnl/lib/libdnnl.so.2"],
            DnnlLibraryProbe.Candidates(n => env.GetValueOrDefault(n), windows: false));
        Assert.Equal(["dnnl.dll"], DnnlLibraryProbe.Candidates(_ => null, windows: true));
    }

    [Fact]
    public void DescribeNeverThrows()
    {
        string line = DnnlRuntime.Describe();
        Assert.StartsWith("oneDNN ", line, StringComparison.Ordinal);
        if (DnnlRuntime.IsAvailable)
        {
            Assert.Matches(@"^oneDNN 2\.\d+\.\d+ \([a-z0-9_]+, ", line);
            Assert.Null(DnnlRuntime.UnavailableReason);
        }
        else
        {
            Assert.NotNull(DnnlRuntime.UnavailableReason);
        }
    }

    [Fact]
    public void DisabledOneDnnFallsBackToTheOwnKernels()
    {
        // The probe runs once per process: the check runs in a child process started with MED2E3_DNNL=0.
        const string method = nameof(DisabledOneDnnFallsBackToTheOwnKernels);
        if (ChildProcess.IsChildFor($"{typeof(DnnlBf16LinearTests).FullName}.{method}"))
        {
            Assert.False(DnnlRuntime.IsAvailable);
            Assert.Contains("MED2E3_DNNL=0", DnnlRuntime.UnavailableReason, StringComparison.Ordinal);
            Assert.False(CpuMatMulPath.Bf16UsesDnnl);
            Assert.Equal("bf16: own kernels (oneDNN not available: disabled by MED2E3_DNNL=0)",
                CpuMatMulPath.Describe(CpuPrecision.Bf16));
            float[] w = Gaussian(new SeededRandom(6), 3 * 5);
            using PreparedLinear linear = PreparedLinear.Create(MemoryMarshal.AsBytes(w.AsSpan()), WeightStorage.F32, 3, 5,
                CpuPrecision.Bf16);
            AssertOwnBf16Kernel(linear);
            Assert.Throws<InvalidOperationException>(() => new DnnlBf16Linear(MemoryMarshal.AsBytes(w.AsSpan()),
                WeightStorage.F32, 3, 5));
            return;
        }

        RunChild(method, new Dictionary<string, string?> { ["MED2E3_DNNL"] = "0" });
    }

    [Fact]
    public void AMissingLibraryFallsBackToTheOwnKernels()
    {
        // The override names the only file tried; pointing nowhere, nothing is found even where oneDNN is installed.
        const string method = nameof(AMissingLibraryFallsBackToTheOwnKernels);
        if (ChildProcess.IsChildFor($"{typeof(DnnlBf16LinearTests).FullName}.{method}"))
        {
            Assert.False(DnnlRuntime.IsAvailable);
            Assert.Equal("not found (tried /not-here/libdnnl.so.2)", DnnlRuntime.UnavailableReason);
            Assert.StartsWith("bf16: own kernels (oneDNN not available: not found", CpuMatMulPath.Describe(CpuPrecision.Bf16),
                StringComparison.Ordinal);
            return;
        }

        RunChild(method, new Dictionary<string, string?> { ["MED2E3_DNNL_LIB"] = "/not-here/libdnnl.so.2" });
    }

    [Fact]
    public void ACpuWithoutBf16DotProductsFallsBackToTheOwnKernels()
    {
        RequireDnnl();
        // oneDNN's own switch caps the ISA it dispatches to; capped below AVX512-BF16 the product is emulated there.
        const string method = nameof(ACpuWithoutBf16DotProductsFallsBackToTheOwnKernels);
        if (ChildProcess.IsChildFor($"{typeof(DnnlBf16LinearTests).FullName}.{method}"))
        {
            Assert.True(DnnlRuntime.IsAvailable);
            Assert.Equal("avx2", DnnlRuntime.Isa);
            Assert.False(CpuMatMulPath.Bf16UsesDnnl);
            Assert.Equal($"bf16: own kernels (oneDNN {DnnlRuntime.Version} found, but avx2 has no bf16 dot products)",
                CpuMatMulPath.Describe(CpuPrecision.Bf16));
            return;
        }

        RunChild(method, new Dictionary<string, string?> { ["ONEDNN_MAX_CPU_ISA"] = "AVX2", ["DNNL_MAX_CPU_ISA"] = "AVX2" });
    }

    private static void RunChild(string method, Dictionary<string, string?> environment)
    {
        (int exit, string output) = ChildProcess.Run(typeof(DnnlBf16LinearTests), method, TimeSpan.FromMinutes(3),
            environment);
        Assert.True(exit == 0, $"the child process failed (exit code {exit}):\n{output}");
        Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", output, StringComparison.Ordinal);
    }

    private static float[] Gaussian(SeededRandom rng, long count)
    {
        float[] a = new float[count];
        for (long i = 0; i < count; i++)
        {
            float v = (float)rng.NextGaussian();
            a[i] = v == 0 ? 0.5f : v;
        }

        return a;
    }

    private static float[] Integers(SeededRandom rng, int count)
    {
        float[] a = new float[count];
        for (int i = 0; i < count; i++)
        {
            long v = rng.NextLong(-8, 9);
            a[i] = v == 0 ? 1 : v;
        }

        return a;
    }

    private static byte[] StoredWeights(SeededRandom rng, WeightStorage storage, int count)
    {
        float[] v = Gaussian(rng, count);
        switch (storage)
        {
            case WeightStorage.F32:
                return MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
            case WeightStorage.Bf16:
                ushort[] b = new ushort[count];
                Precision.FloatToBf16(v, b);
                return MemoryMarshal.AsBytes(b.AsSpan()).ToArray();
            default:
                Half[] h = new Half[count];
                for (int i = 0; i < count; i++) h[i] = (Half)v[i];
                return MemoryMarshal.AsBytes(h.AsSpan()).ToArray();
        }
    }

    /// <summary>The fallback: the packed kernels on bf16-rounded panels where 512-bit vectors run natively, else the reference.</summary>
    private static void AssertOwnBf16Kernel(PreparedLinear linear)
    {
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) Assert.IsType<PackedLinear>(linear);
        else Assert.IsType<WidenedLinear>(linear);
        Assert.Equal(CpuPrecision.Bf16, linear.Precision);
    }
}
