using Med2E3.Native.Runtime;

namespace Med2E3.Native.Benchmarks;

/// <summary>The benchmark suites: copy ceiling, elementwise, reduce, cuBLAS GEMM.</summary>
public static class Suites
{
    public static void Run(Bench bench, string suite)
    {
        // The copy ceiling is always measured first: memory-bound rows are reported as a fraction of it.
        Copy(bench);
        if (suite is "all" or "elementwise")
        {
            Elementwise(bench);
        }

        if (suite is "all" or "reduce")
        {
            Reduce(bench);
        }

        if (suite is "all" or "gemm")
        {
            Gemm(bench);
        }

        Kernels.OpSuites.Run(bench, suite);
    }

    private static float[] Random(long n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++)
        {
            float v = 0.05f + (float)rng.NextDouble() * 2.95f;
            x[i] = rng.Next(2) == 0 ? v : -v;
        }

        return x;
    }

    private static ushort ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    private static string CheckClose(float[] expected, float[] actual, double rel = 1e-4, double abs = 1e-5)
    {
        for (long i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(actual[i] - expected[i]) <= abs + rel * Math.Abs(expected[i])))
            {
                return $"MISMATCH at {i}: expected {expected[i]}, got {actual[i]}";
            }
        }

        return "ok";
    }

    private static void Copy(Bench bench)
    {
        long n = bench.Options.Quick ? 1L << 24 : 1L << 28; // bytes
        using DeviceBuffer a = bench.Device.Pool.Rent(n);
        using DeviceBuffer b = bench.Device.Pool.Rent(n);
        bench.Stream.Memset8(a.Pointer, 7, n);
        var t = bench.Time(s => s.CopyDeviceToDevice(a.Pointer, b.Pointer, n));
        bench.CopyGBps = 2.0 * n / (t.MedianUs * 1e-6) / 1e9;
        var probe = new byte[4096];
        bench.Stream.Download(b.Pointer + (ulong)(n - 4096), probe.AsSpan());
        bench.AddMemoryRow("copy", "cuMemcpyDtoDAsync", $"{n >> 20} MiB", 2 * n, t, "ceiling", probe.All(v => v == 7) ? "ok" : "MISMATCH");
    }

    private static void Elementwise(Bench bench)
    {
        long n = bench.Options.Quick ? 1L << 22 : 1L << 26;
        float[] a = Random(n, 1);
        float[] b = Random(n, 2);
        using var da = bench.Device.Pool.Rent<float>(n);
        using var db = bench.Device.Pool.Rent<float>(n);
        using var dy = bench.Device.Pool.Rent<float>(n);
        bench.Stream.Upload<float>(a, da.Pointer);
        bench.Stream.Upload<float>(b, db.Pointer);
        string shape = $"n = {n >> 20}M";
        const string floor = "≥ 80 % of peak (not yet measured)";

        float[] sum = new float[n];
        for (long i = 0; i < n; i++)
        {
            sum[i] = a[i] + b[i];
        }

        foreach ((string kernel, int perThread) in new[] { ("add_fwd_f32_v1", 1), ("add_fwd_f32_v2", 4) })
        {
            CudaKernel k = bench.Device.GetKernel("elementwise.cu", kernel);
            var args = new KernelArgs().Add(da).Add(db).Add(dy).Add(n);
            bench.Stream.Zero(dy);
            k.Launch(bench.Stream, Dim3.CeilDiv(n, 256L * perThread), 256, 0, args);
            string check = CheckClose(sum, bench.Stream.Download(dy));
            var t = bench.Time(s => k.Launch(s, Dim3.CeilDiv(n, 256L * perThread), 256, 0, args));
            bench.AddMemoryRow("elementwise", kernel, shape, 12 * n, t, floor, check);
        }

        {
            CudaKernel k = bench.Device.GetKernel("elementwise.cu", "scale_fwd_f32");
            var args = new KernelArgs().Add(da).Add(dy).Add(0.5f).Add(0f).Add(n);
            k.Launch(bench.Stream, Dim3.CeilDiv(n, 256), 256, 0, args);
            string check = CheckClose(Array.ConvertAll(a, v => 0.5f * v), bench.Stream.Download(dy));
            var t = bench.Time(s => k.Launch(s, Dim3.CeilDiv(n, 256), 256, 0, args));
            bench.AddMemoryRow("elementwise", "scale_fwd_f32", shape, 8 * n, t, floor, check);
        }

        {
            CudaKernel k = bench.Device.GetKernel("elementwise.cu", "mul_fwd_f32");
            var args = new KernelArgs().Add(da).Add(db).Add(dy).Add(n);
            k.Launch(bench.Stream, Dim3.CeilDiv(n, 256), 256, 0, args);
            float[] product = new float[n];
            for (long i = 0; i < n; i++)
            {
                product[i] = a[i] * b[i];
            }

            string check = CheckClose(product, bench.Stream.Download(dy));
            var t = bench.Time(s => k.Launch(s, Dim3.CeilDiv(n, 256), 256, 0, args));
            bench.AddMemoryRow("elementwise", "mul_fwd_f32", shape, 12 * n, t, floor, check);
        }

        {
            ushort[] ah = Array.ConvertAll(a, ToBf16);
            ushort[] bh = Array.ConvertAll(b, ToBf16);
            using var dah = bench.Device.Pool.Rent<ushort>(n);
            using var dbh = bench.Device.Pool.Rent<ushort>(n);
            using var dyh = bench.Device.Pool.Rent<ushort>(n);
            bench.Stream.Upload<ushort>(ah, dah.Pointer);
            bench.Stream.Upload<ushort>(bh, dbh.Pointer);
            CudaKernel k = bench.Device.GetKernel("elementwise.cu", "add_fwd_bf16");
            var args = new KernelArgs().Add(dah).Add(dbh).Add(dyh).Add(n);
            k.Launch(bench.Stream, Dim3.CeilDiv(n, 256), 256, 0, args);
            ushort[] y = bench.Stream.Download(dyh);
            string check = "ok";
            for (long i = 0; i < n; i++)
            {
                float expected = BitConverter.UInt32BitsToSingle((uint)ah[i] << 16) + BitConverter.UInt32BitsToSingle((uint)bh[i] << 16);
                if (y[i] != ToBf16(expected))
                {
                    check = $"MISMATCH at {i}";
                    break;
                }
            }

            var t = bench.Time(s => k.Launch(s, Dim3.CeilDiv(n, 256), 256, 0, args));
            bench.AddMemoryRow("elementwise", "add_fwd_bf16", shape, 6 * n, t, floor, check);
        }
    }

    private static void Reduce(Bench bench)
    {
        foreach ((int rows, int cols) in bench.Options.Quick ? new[] { (4096, 1024) } : new[] { (16384, 1024), (1024, 16384), (262144, 64) })
        {
            long n = (long)rows * cols;
            float[] x = Random(n, 3);
            using var dx = bench.Device.Pool.Rent<float>(n);
            using var dy = bench.Device.Pool.Rent<float>(rows);
            bench.Stream.Upload<float>(x, dx.Pointer);
            var expected = new float[rows];
            for (int r = 0; r < rows; r++)
            {
                double acc = 0;
                for (int c = 0; c < cols; c++)
                {
                    acc += x[(long)r * cols + c];
                }

                expected[r] = (float)acc;
            }

            foreach ((string kernel, bool blockPerRow) in new[] { ("sum_fwd_f32_v1", false), ("sum_fwd_f32_v2", true) })
            {
                CudaKernel k = bench.Device.GetKernel("reduce.cu", kernel);
                Dim3 grid = blockPerRow ? new Dim3((uint)rows) : new Dim3(Dim3.CeilDiv(rows, 256));
                var args = new KernelArgs().Add(dx).Add(dy).Add((long)rows).Add(cols);
                k.Launch(bench.Stream, grid, 256, 0, args);
                string check = CheckClose(expected, bench.Stream.Download(dy), 1e-4, 1e-3);
                var t = bench.Time(s => k.Launch(s, grid, 256, 0, args));
                bench.AddMemoryRow("reduce", kernel, $"({rows}, {cols})", 4 * n + 4L * rows, t, "≥ 80 % of peak (not yet measured)", check);
            }
        }
    }

    private static void Gemm(Bench bench)
    {
        if (!CublasRuntime.IsAvailable)
        {
            Console.WriteLine($"  gemm: cuBLAS not available ({CublasRuntime.UnavailableReason}); skipped");
            return;
        }

        Cublas blas = bench.Device.Cublas;
        var cases = bench.Options.Quick
            ? new[] { (GemmDataType.BF16, 2048, false), (GemmDataType.F32, 1024, false) }
            : new[] { (GemmDataType.BF16, 4096, false), (GemmDataType.BF16, 8192, false), (GemmDataType.F16, 8192, false),
                      (GemmDataType.F32, 4096, false), (GemmDataType.F32, 4096, true) };
        foreach ((GemmDataType type, int size, bool tf32) in cases)
        {
            int m = size, n = size, k = size;
            float[] a = Random((long)m * k, 4);
            float[] b = Random((long)n * k, 5);
            int elem = type == GemmDataType.F32 ? 4 : 2;
            using DeviceBuffer da = bench.Device.Pool.Rent((long)m * k * elem);
            using DeviceBuffer db = bench.Device.Pool.Rent((long)n * k * elem);
            using DeviceBuffer dc = bench.Device.Pool.Rent((long)m * n * elem);
            float[] aw;
            float[] bw;
            if (type == GemmDataType.F32)
            {
                bench.Stream.Upload<float>(a, da.Pointer);
                bench.Stream.Upload<float>(b, db.Pointer);
                aw = a;
                bw = b;
            }
            else if (type == GemmDataType.BF16)
            {
                ushort[] ah = Array.ConvertAll(a, ToBf16);
                ushort[] bh = Array.ConvertAll(b, ToBf16);
                bench.Stream.Upload<ushort>(ah, da.Pointer);
                bench.Stream.Upload<ushort>(bh, db.Pointer);
                aw = Array.ConvertAll(ah, h => BitConverter.UInt32BitsToSingle((uint)h << 16));
                bw = Array.ConvertAll(bh, h => BitConverter.UInt32BitsToSingle((uint)h << 16));
            }
            else
            {
                Half[] ah = Array.ConvertAll(a, v => (Half)v);
                Half[] bh = Array.ConvertAll(b, v => (Half)v);
                bench.Stream.Upload<Half>(ah, da.Pointer);
                bench.Stream.Upload<Half>(bh, db.Pointer);
                aw = Array.ConvertAll(ah, h => (float)h);
                bw = Array.ConvertAll(bh, h => (float)h);
            }

            blas.AllowTf32 = tf32;
            try
            {
                blas.MatMulTransB(bench.Stream, type, da.Pointer, db.Pointer, dc.Pointer, m, n, k);
                string check = CheckGemmSample(bench, type, dc, aw, bw, m, n, k, tf32);
                var t = bench.Time(s => blas.MatMulTransB(s, type, da.Pointer, db.Pointer, dc.Pointer, m, n, k));
                string name = $"cublasGemmEx {type}{(tf32 ? " TF32" : "")}";
                bench.AddComputeRow("gemm", name, $"{m}×{n}×{k} (x·Wᵀ)", 2.0 * m * n * k, t, "vendor yardstick", check);
            }
            finally
            {
                blas.AllowTf32 = false;
            }
        }
    }

    // Sixteen sampled outputs against a float64 dot product: relative error within the output precision.
    private static string CheckGemmSample(Bench bench, GemmDataType type, DeviceBuffer dc, float[] a, float[] b, int m, int n, int k, bool tf32)
    {
        var rng = new Random(6);
        double tolerance = type == GemmDataType.F32 && !tf32 ? 1e-4 : type == GemmDataType.F16 ? 2e-3 : 1e-2;
        for (int s = 0; s < 16; s++)
        {
            int i = rng.Next(m);
            int j = rng.Next(n);
            double exact = 0;
            double scale = 0;
            for (int p = 0; p < k; p++)
            {
                exact += (double)a[(long)i * k + p] * b[(long)j * k + p];
                scale += Math.Abs((double)a[(long)i * k + p] * b[(long)j * k + p]);
            }

            float got;
            if (type == GemmDataType.F32)
            {
                var one = new float[1];
                bench.Stream.Download(dc.Pointer + (ulong)(((long)i * n + j) * 4), one.AsSpan());
                got = one[0];
            }
            else
            {
                var one = new ushort[1];
                bench.Stream.Download(dc.Pointer + (ulong)(((long)i * n + j) * 2), one.AsSpan());
                got = type == GemmDataType.BF16 ? BitConverter.UInt32BitsToSingle((uint)one[0] << 16) : (float)BitConverter.UInt16BitsToHalf(one[0]);
            }

            if (Math.Abs(got - exact) > tolerance * scale)
            {
                return $"MISMATCH at ({i}, {j}): {got} vs {exact:G6}";
            }
        }

        return "ok (16 sampled)";
    }
}
