using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>
/// cuBLAS row-major helpers against a CPU GEMM: f32 (NMSE ≤ 1e-7, exact on integers), bf16 and f16, padded row
/// strides in every transposition, beta = 0 over a C that holds NaN, strided batches and the cuBLASLt epilogues.
/// </summary>
public class CublasTests(TestDevice fixture)
{
    private CudaDevice Device => fixture.Device;

    private CudaStream Stream => fixture.Stream;

    private static void RequireCublas() =>
        Assert.SkipUnless(CublasRuntime.IsAvailable, $"cuBLAS is not available: {CublasRuntime.UnavailableReason}");

    private DeviceBuffer<float> Upload(float[] x)
    {
        DeviceBuffer<float> d = Device.Pool.Rent<float>(x.Length);
        Stream.Upload<float>(x, d.Pointer);
        return d;
    }

    private DeviceBuffer<ushort> UploadBf16(float[] x)
    {
        DeviceBuffer<ushort> d = Device.Pool.Rent<ushort>(x.Length);
        Stream.Upload<ushort>(CpuReference.ToBf16(x), d.Pointer);
        return d;
    }

    [CudaTheory]
    [InlineData(67, 45, 129, false, false)]
    [InlineData(67, 45, 129, false, true)]
    [InlineData(31, 77, 64, true, false)]
    [InlineData(8, 5, 3, true, true)]
    [InlineData(1, 1024, 768, false, true)]
    public void GemmF32MatchesCpu(int m, int n, int k, bool transA, bool transB)
    {
        RequireCublas();
        float[] a = CpuReference.Random(m * k, 1);
        float[] b = CpuReference.Random(k * n, 2);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Device.Pool.Rent<float>(m * n);
        Device.Cublas.Gemm(Stream, GemmDataType.F32, transA, transB, m, n, k, 1f, da.Pointer, transA ? m : k,
            db.Pointer, transB ? k : n, 0f, dc.Pointer, n);
        double nmse = CpuReference.Nmse(CpuReference.GemmExact(a, b, m, n, k, transA, transB), Stream.Download(dc));
        Assert.True(nmse <= 1e-7, $"NMSE {nmse:G3}");
    }

    [CudaFact]
    public void RowMajorHelpersAreExactOnIntegers()
    {
        RequireCublas();
        const int m = 37, n = 29, k = 53;
        float[] x = CpuReference.RandomIntegers(m * k, 3);
        float[] w = CpuReference.RandomIntegers(n * k, 4); // (N, K)
        float[] bkn = CpuReference.RandomIntegers(k * n, 5); // (K, N)
        using var dx = Upload(x);
        using var dw = Upload(w);
        using var db = Upload(bkn);
        using var dy = Device.Pool.Rent<float>(m * n);

        Device.Cublas.MatMulTransB(Stream, GemmDataType.F32, dx.Pointer, dw.Pointer, dy.Pointer, m, n, k);
        Assert.Equal(Array.ConvertAll(CpuReference.GemmExact(x, w, m, n, k, false, true), v => (float)v), Stream.Download(dy));

        Device.Cublas.MatMul(Stream, GemmDataType.F32, dx.Pointer, db.Pointer, dy.Pointer, m, n, k);
        Assert.Equal(Array.ConvertAll(CpuReference.GemmExact(x, bkn, m, n, k, false, false), v => (float)v), Stream.Download(dy));

        // beta = 1 accumulates into y: y = x·B + x·B.
        Device.Cublas.MatMul(Stream, GemmDataType.F32, dx.Pointer, db.Pointer, dy.Pointer, m, n, k, 1f, 1f);
        Assert.Equal(Array.ConvertAll(CpuReference.GemmExact(x, bkn, m, n, k, false, false), v => (float)(2 * v)), Stream.Download(dy));
    }

    [CudaFact]
    public void Bf16GemmIsExactOnSmallIntegersAndWithinTwiceCpuOnRandom()
    {
        RequireCublas();
        // Integers in [−8, 8] with K = 4 keep every sum within 256, exact in bf16.
        {
            const int m = 19, n = 23, k = 4;
            float[] x = CpuReference.RandomIntegers(m * k, 6);
            float[] w = CpuReference.RandomIntegers(n * k, 7);
            using var dx = UploadBf16(x);
            using var dw = UploadBf16(w);
            using var dy = Device.Pool.Rent<ushort>(m * n);
            Device.Cublas.MatMulTransB(Stream, GemmDataType.BF16, dx.Pointer, dw.Pointer, dy.Pointer, m, n, k);
            Assert.Equal(Array.ConvertAll(CpuReference.GemmExact(x, w, m, n, k, false, true), v => (float)v),
                CpuReference.FromBf16(Stream.Download(dy)));
        }

        {
            const int m = 64, n = 96, k = 256;
            float[] x = CpuReference.FromBf16(CpuReference.ToBf16(CpuReference.Random(m * k, 8)));
            float[] w = CpuReference.FromBf16(CpuReference.ToBf16(CpuReference.Random(n * k, 9)));
            using var dx = UploadBf16(x);
            using var dw = UploadBf16(w);
            using var dy = Device.Pool.Rent<ushort>(m * n);
            Device.Cublas.MatMulTransB(Stream, GemmDataType.BF16, dx.Pointer, dw.Pointer, dy.Pointer, m, n, k);
            float[] device = CpuReference.FromBf16(Stream.Download(dy));
            CpuReference.AssertBf16WithinTwiceCpu(
                device, CpuReference.GemmBf16(x, w, m, n, k, false, true), CpuReference.GemmExact(x, w, m, n, k, false, true), "bf16 GEMM");
        }
    }

    [CudaTheory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void PaddedRowStridesAreHonouredAndBetaZeroNeverReadsC(bool transA, bool transB)
    {
        RequireCublas();
        const int m = 37, n = 29, k = 53;
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 4;
        float[] a = CpuReference.RandomIntegers((transA ? k : m) * lda, 20);
        float[] b = CpuReference.RandomIntegers((transB ? n : k) * ldb, 21);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Device.Pool.Rent<float>(m * ldc);
        // C holds NaN everywhere: with beta = 0 cuBLAS must not read it, and the padding of each row stays as it is.
        Stream.Memset32(dc.Pointer, BitConverter.SingleToUInt32Bits(float.NaN), m * ldc);
        Device.Cublas.Gemm(Stream, GemmDataType.F32, transA, transB, m, n, k, 1f, da.Pointer, lda, db.Pointer, ldb,
            0f, dc.Pointer, ldc);
        float[] c = Stream.Download(dc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                if (j >= n)
                {
                    Assert.True(float.IsNaN(c[i * ldc + j]), $"padding ({i}, {j}) was written");
                    continue;
                }

                double want = 0;
                for (int p = 0; p < k; p++)
                {
                    want += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                }

                Assert.Equal((float)want, c[i * ldc + j]);
            }
        }
    }

    [CudaFact]
    public void F16GemmIsWithinTwiceCpu()
    {
        RequireCublas();
        const int m = 48, n = 40, k = 200;
        static float Half16(float v) => (float)(Half)v;
        float[] x = Array.ConvertAll(CpuReference.Random(m * k, 22, 0.05f, 1f), Half16);
        float[] w = Array.ConvertAll(CpuReference.Random(n * k, 23, 0.05f, 1f), Half16);
        using var dx = Device.Pool.Rent<Half>(x.Length);
        using var dw = Device.Pool.Rent<Half>(w.Length);
        using var dy = Device.Pool.Rent<Half>(m * n);
        Stream.Upload<Half>(Array.ConvertAll(x, v => (Half)v), dx.Pointer);
        Stream.Upload<Half>(Array.ConvertAll(w, v => (Half)v), dw.Pointer);
        Device.Cublas.MatMulTransB(Stream, GemmDataType.F16, dx.Pointer, dw.Pointer, dy.Pointer, m, n, k);
        float[] device = Array.ConvertAll(Stream.Download(dy), v => (float)v);
        double[] exact = CpuReference.GemmExact(x, w, m, n, k, false, true);
        // The CPU reference at f16: an f32 accumulator, rounded once to f16.
        var cpu = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int p = 0; p < k; p++)
                {
                    acc += x[i * k + p] * w[j * k + p];
                }

                cpu[i * n + j] = Half16(acc);
            }
        }

        CpuReference.AssertBf16WithinTwiceCpu(device, cpu, exact, "f16 GEMM");
    }

    [CudaFact]
    public void StridedBatchedMatchesPerBatchGemm()
    {
        RequireCublas();
        const int batch = 5, m = 33, n = 17, k = 40;
        float[] a = CpuReference.Random(batch * m * k, 10);
        float[] b = CpuReference.Random(batch * n * k, 11); // (batch, N, K): used transposed
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Device.Pool.Rent<float>(batch * m * n);
        Device.Cublas.MatMulBatched(Stream, GemmDataType.F32, da.Pointer, db.Pointer, dc.Pointer, batch, m, n, k, transposeB: true);
        float[] c = Stream.Download(dc);
        for (int i = 0; i < batch; i++)
        {
            double[] expected = CpuReference.GemmExact(a[(i * m * k)..((i + 1) * m * k)], b[(i * n * k)..((i + 1) * n * k)], m, n, k, false, true);
            double nmse = CpuReference.Nmse(expected, c[(i * m * n)..((i + 1) * m * n)]);
            Assert.True(nmse <= 1e-7, $"batch {i}: NMSE {nmse:G3}");
        }
    }

    [CudaTheory]
    [InlineData(GemmEpilogue.None)]
    [InlineData(GemmEpilogue.Bias)]
    [InlineData(GemmEpilogue.GeluBias)]
    public void LtLinearEpilogueF32(GemmEpilogue epilogue)
    {
        RequireCublas();
        const int m = 50, n = 72, k = 96;
        float[] x = CpuReference.Random(m * k, 12, 0.05f, 0.5f);
        float[] w = CpuReference.Random(n * k, 13, 0.05f, 0.5f);
        float[] bias = CpuReference.Random(n, 14);
        using var dx = Upload(x);
        using var dw = Upload(w);
        using var dbias = Upload(bias);
        using var dy = Device.Pool.Rent<float>(m * n);
        Device.Cublas.LinearEpilogue(Stream, GemmDataType.F32, dx.Pointer, dw.Pointer, dbias.Pointer, dy.Pointer, m, n, k, epilogue);
        double[] product = CpuReference.GemmExact(x, w, m, n, k, false, true);
        var expected = new double[m * n];
        for (int i = 0; i < expected.Length; i++)
        {
            double v = product[i] + (epilogue == GemmEpilogue.None ? 0 : bias[i % n]);
            // cuBLASLt's GELU is the tanh approximation.
            expected[i] = epilogue == GemmEpilogue.GeluBias
                ? 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))
                : v;
        }

        double nmse = CpuReference.Nmse(expected, Stream.Download(dy));
        Assert.True(nmse <= 1e-7, $"{epilogue}: NMSE {nmse:G3}");
    }

    [CudaTheory]
    [InlineData(GemmEpilogue.Bias)]
    [InlineData(GemmEpilogue.GeluBias)]
    public void LtLinearEpilogueBf16IsWithinTwiceCpu(GemmEpilogue epilogue)
    {
        RequireCublas();
        const int m = 50, n = 72, k = 96;
        float[] x = CpuReference.FromBf16(CpuReference.ToBf16(CpuReference.Random(m * k, 24, 0.05f, 0.5f)));
        float[] w = CpuReference.FromBf16(CpuReference.ToBf16(CpuReference.Random(n * k, 25, 0.05f, 0.5f)));
        float[] bias = CpuReference.FromBf16(CpuReference.ToBf16(CpuReference.Random(n, 26)));
        using var dx = UploadBf16(x);
        using var dw = UploadBf16(w);
        using var dbias = UploadBf16(bias);
        using var dy = Device.Pool.Rent<ushort>(m * n);
        Device.Cublas.LinearEpilogue(Stream, GemmDataType.BF16, dx.Pointer, dw.Pointer, dbias.Pointer, dy.Pointer, m, n, k, epilogue);
        static double Apply(GemmEpilogue e, double v) =>
            e == GemmEpilogue.GeluBias ? 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))) : v;
        double[] product = CpuReference.GemmExact(x, w, m, n, k, false, true);
        var exact = new double[m * n];
        var cpu = new float[m * n];
        for (int i = 0; i < exact.Length; i++)
        {
            exact[i] = Apply(epilogue, product[i] + bias[i % n]);
            // The CPU at bf16: f32 accumulation and epilogue, one rounding to bf16 on store.
            cpu[i] = CpuReference.FromBf16(CpuReference.ToBf16((float)Apply(epilogue, (float)product[i] + bias[i % n])));
        }

        CpuReference.AssertBf16WithinTwiceCpu(CpuReference.FromBf16(Stream.Download(dy)), cpu, exact, $"bf16 {epilogue}");
    }

    [CudaFact]
    public void Tf32IsOffByDefaultAndCanBeEnabled()
    {
        RequireCublas();
        Assert.False(Device.Cublas.AllowTf32);
        const int m = 64, n = 64, k = 512;
        float[] a = CpuReference.Random(m * k, 15);
        float[] b = CpuReference.Random(k * n, 16);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Device.Pool.Rent<float>(m * n);
        double[] exact = CpuReference.GemmExact(a, b, m, n, k, false, false);
        Device.Cublas.MatMul(Stream, GemmDataType.F32, da.Pointer, db.Pointer, dc.Pointer, m, n, k);
        double strict = CpuReference.Nmse(exact, Stream.Download(dc));
        try
        {
            Device.Cublas.AllowTf32 = true;
            Device.Cublas.MatMul(Stream, GemmDataType.F32, da.Pointer, db.Pointer, dc.Pointer, m, n, k);
            double tf32 = CpuReference.Nmse(exact, Stream.Download(dc));
            Assert.True(strict <= 1e-10, $"f32 NMSE {strict:G3}");
            Assert.True(tf32 <= 1e-5, $"tf32 NMSE {tf32:G3}");
        }
        finally
        {
            Device.Cublas.AllowTf32 = false;
        }
    }
}
