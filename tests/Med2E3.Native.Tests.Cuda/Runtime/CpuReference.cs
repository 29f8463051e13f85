namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>
/// Plain loops with the semantics of kernels/elementwise.cu and kernels/reduce.cu (f32 math, one bf16 rounding on
/// store), plus float64 oracles and a CPU GEMM, for the GPU conformance tests of the foundation kernels and cuBLAS.
/// </summary>
public static class CpuReference
{
    // ---- bf16 ----

    /// <summary>f32 → bf16 bits, round to nearest even, NaN kept quiet (as common.cuh).</summary>
    public static ushort ToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u)
        {
            return (ushort)((u >> 16) | 0x40u);
        }

        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    public static float FromBf16(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    public static ushort[] ToBf16(float[] x) => Array.ConvertAll(x, ToBf16);

    public static float[] FromBf16(ushort[] x) => Array.ConvertAll(x, FromBf16);

    // ---- elementwise, f32 ----

    public static float[] Map(float[] a, Func<float, float> f) => Array.ConvertAll(a, v => f(v));

    public static float[] Zip(float[] a, float[] b, Func<float, float, float> f)
    {
        var y = new float[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            y[i] = f(a[i], b[i]);
        }

        return y;
    }

    public static ushort[] MapBf16(ushort[] a, Func<float, float> f) => Array.ConvertAll(a, v => ToBf16(f(FromBf16(v))));

    public static ushort[] ZipBf16(ushort[] a, ushort[] b, Func<float, float, float> f)
    {
        var y = new ushort[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            y[i] = ToBf16(f(FromBf16(a[i]), FromBf16(b[i])));
        }

        return y;
    }

    // ---- reductions over the last axis ----

    public static float[] Sum(float[] x, int rows, int cols)
    {
        var y = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            float acc = 0f;
            for (int c = 0; c < cols; c++)
            {
                acc += x[(long)r * cols + c];
            }

            y[r] = acc;
        }

        return y;
    }

    public static float[] Mean(float[] x, int rows, int cols) => Array.ConvertAll(Sum(x, rows, cols), s => s / cols);

    public static double[] SumExact(float[] x, int rows, int cols)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double acc = 0;
            for (int c = 0; c < cols; c++)
            {
                acc += x[(long)r * cols + c];
            }

            y[r] = acc;
        }

        return y;
    }

    // ---- GEMM, row-major: C (M, N) = op(A) (M, K) · op(B) (K, N) ----

    public static double[] GemmExact(float[] a, float[] b, int m, int n, int k, bool transA, bool transB)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * m + i] : a[i * k + p];
                    float bv = transB ? b[j * k + p] : b[p * n + j];
                    acc += (double)av * bv;
                }

                c[i * n + j] = acc;
            }
        }

        return c;
    }

    /// <summary>The same GEMM with an f32 accumulator, then rounded to bf16 (the CPU reference at bf16 precision).</summary>
    public static float[] GemmBf16(float[] a, float[] b, int m, int n, int k, bool transA, bool transB)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * m + i] : a[i * k + p];
                    float bv = transB ? b[j * k + p] : b[p * n + j];
                    acc += av * bv;
                }

                c[i * n + j] = FromBf16(ToBf16(acc));
            }
        }

        return c;
    }

    // ---- inputs and comparisons ----

    /// <summary>Uniform non-zero values in ±[lo, hi] from a fixed seed.</summary>
    public static float[] Random(int n, int seed, float lo = 0.05f, float hi = 3f)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v = lo + (float)rng.NextDouble() * (hi - lo);
            x[i] = rng.Next(2) == 0 ? v : -v;
        }

        return x;
    }

    /// <summary>Integers in [−8, 8] from a fixed seed (exact in f32 and bf16 products and small sums).</summary>
    public static float[] RandomIntegers(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = rng.Next(-8, 9);
        }

        return x;
    }

    /// <summary>STYLE fp32 elementwise rule: |d − r| ≤ 1e-5 + 1e-4·|r|, reporting the first mismatches.</summary>
    public static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var bad = new List<string>();
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(actual[i] - expected[i]) <= 1e-5 + 1e-4 * Math.Abs(expected[i])))
            {
                if (bad.Count < 5)
                {
                    bad.Add($"[{i}] expected {expected[i]:R}, got {actual[i]:R}");
                }
                else
                {
                    bad.Add("…");
                    break;
                }
            }
        }

        Assert.True(bad.Count == 0, $"{what}: {string.Join("; ", bad)}");
    }

    /// <summary>NMSE = Σ(d − r)² / Σ r².</summary>
    public static double Nmse(IReadOnlyList<double> reference, IReadOnlyList<float> actual)
    {
        double num = 0;
        double den = 0;
        for (int i = 0; i < reference.Count; i++)
        {
            double d = actual[i] - reference[i];
            num += d * d;
            den += reference[i] * reference[i];
        }

        return num / den;
    }

    /// <summary>Largest |x − oracle|.</summary>
    public static double MaxError(IReadOnlyList<float> x, IReadOnlyList<double> oracle)
    {
        double max = 0;
        for (int i = 0; i < x.Count; i++)
        {
            max = Math.Max(max, Math.Abs(x[i] - oracle[i]));
        }

        return max;
    }

    /// <summary>STYLE bf16 rule: error against the float64 oracle ≤ 2 × the CPU reference's error at bf16.</summary>
    public static void AssertBf16WithinTwiceCpu(float[] device, float[] cpu, double[] oracle, string what)
    {
        double deviceError = MaxError(device, oracle);
        double cpuError = MaxError(cpu, oracle);
        Assert.True(
            deviceError <= 2 * cpuError + 1e-30,
            $"{what}: device max error {deviceError:G4} > 2 × CPU reference max error {cpuError:G4}");
    }
}
