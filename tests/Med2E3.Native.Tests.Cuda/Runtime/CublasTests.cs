using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>cuBLAS row-major helpers against a CPU GEMM: f32 (NMSE ≤ 1e-7, exact on integers) and bf16.</summary>
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
