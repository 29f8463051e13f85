using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// The machine's floors, measured in the benchmark's own run: streaming-read memory bandwidth, the f32 FMA peak
/// (AVX-512 when present, else AVX2 / the widest vector) on 1 and on N threads, AMX and AVX512-BF16 from CPUID, and
/// the bf16 dot-product peak derived from the FMA peak (2× when AVX512-BF16 is present: VDPBF16PS does two
/// multiply-adds per f32 lane in one FMA slot). Each figure is the best of several runs (a floor is what the machine
/// can do, not what it usually does).
/// </summary>
public sealed record CpuFloors(
    string Cpu, int Threads, double ReadGBps, long ReadBytes, double FmaGflops1, double FmaGflopsN,
    string FmaKind, bool Amx, bool Avx512Bf16, double Bf16GflopsN, string Bf16Note)
{
    /// <summary>Measures every floor with <paramref name="threads"/> threads (bandwidth over at least 1 GiB).</summary>
    public static CpuFloors Measure(int threads, bool quick)
    {
        long bytes = quick ? 64L << 20 : 1L << 30;
        double read = ReadBandwidth(bytes, threads, quick ? 3 : 5);
        long iterations = quick ? 2_000_000 : 20_000_000;
        double fma1 = FmaPeak(1, iterations, quick ? 2 : 3, out string kind);
        double fmaN = threads == 1 ? fma1 : FmaPeak(threads, iterations, quick ? 2 : 3, out _);
        bool amx = CpuIdBit(7, 0, 3, 24);          // EDX bit 24: AMX-TILE
        bool bf16 = CpuIdBit(7, 1, 0, 5);          // EAX bit 5: AVX512_BF16
        string note = bf16 ? "derived: 2 × f32 FMA peak (AVX512-BF16 VDPBF16PS, 2 MACs per f32 lane)"
            : "no AVX512-BF16: bf16 products run at the f32 FMA rate (derived: 1 × f32 FMA peak)";
        return new CpuFloors(CpuName(), threads, read, bytes, fma1, fmaN, kind, amx, bf16, (bf16 ? 2 : 1) * fmaN, note);
    }

    /// <summary>A one-line summary for the table header.</summary>
    public string Describe() =>
        $"{Cpu}; floors ({Threads} threads, best of runs): read {ReadGBps:F1} GB/s ({ReadBytes >> 20} MiB streamed), "
        + $"f32 FMA {FmaGflops1:F0} GFLOP/s (1 thread) / {FmaGflopsN:F0} GFLOP/s ({Threads} threads, {FmaKind}), "
        + $"bf16 {Bf16GflopsN:F0} GFLOP/s ({Bf16Note}); AMX: {(Amx ? "present" : "not present")} (CPUID.7.0:EDX[24]); "
        + $"AVX512-BF16: {(Avx512Bf16 ? "present" : "not present")} (CPUID.7.1:EAX[5])";

    private static bool CpuIdBit(int leaf, int subleaf, int register, int bit)
    {
        if (!X86Base.IsSupported)
        {
            return false;
        }
        (int eax, _, _, _) = X86Base.CpuId(0, 0);
        if (eax < leaf)
        {
            return false;
        }
        (int a, int b, int c, int d) = X86Base.CpuId(leaf, subleaf);
        int value = register switch { 0 => a, 1 => b, 2 => c, _ => d };
        return (value >> bit & 1) != 0;
    }

    private static string CpuName()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null)
            {
                return line[(line.IndexOf(':') + 1)..].Trim() + $", {Environment.ProcessorCount} logical CPUs";
            }
        }
        catch (IOException)
        {
        }
        return $"{RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical CPUs";
    }

    /// <summary>Best GB/s of summing <paramref name="bytes"/> of native memory, split over the threads.</summary>
    private static unsafe double ReadBandwidth(long bytes, int threads, int runs)
    {
        float* p = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            long n = bytes / 4;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                for (long i = n * t / threads; i < n * (t + 1) / threads; i++)
                {
                    p[i] = 1f;   // touch every page so the timed runs read memory, not the zero page
                }
            });
            double best = 0;
            float sink = 0;
            for (int r = 0; r < runs; r++)
            {
                var sums = new float[threads];
                var sw = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    long start = n * t / threads / 64 * 64, end = n * (t + 1) / threads / 64 * 64;
                    sums[t] = SumRange(p + start, end - start);
                });
                double s = sw.Elapsed.TotalSeconds;
                sink += sums.Sum();
                best = Math.Max(best, bytes / s / 1e9);
            }
            GC.KeepAlive(sink);
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(p);
        }
    }

    private static unsafe float SumRange(float* p, long n)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            long i = 0;
            for (; i + 64 <= n; i += 64)
            {
                a0 += Vector512.LoadAligned(p + i);
                a1 += Vector512.LoadAligned(p + i + 16);
                a2 += Vector512.LoadAligned(p + i + 32);
                a3 += Vector512.LoadAligned(p + i + 48);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3);
        }
        else
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (long i = 0; i + 32 <= n; i += 32)
            {
                a0 += Vector256.Load(p + i);
                a1 += Vector256.Load(p + i + 8);
                a2 += Vector256.Load(p + i + 16);
                a3 += Vector256.Load(p + i + 24);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3);
        }
    }

    /// <summary>Best GFLOP/s of independent FMA chains (12 accumulators hide the FMA latency), on each thread.</summary>
    private static double FmaPeak(int threads, long iterations, int runs, out string kind)
    {
        kind = Avx512F.IsSupported ? "AVX-512 FMA, 12 chains" : Fma.IsSupported ? "AVX2 FMA, 12 chains" : "scalar-vector multiply-add";
        int lanes = Avx512F.IsSupported ? 16 : 8;
        double best = 0;
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            var sinks = new float[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sinks[t] = FmaLoop(iterations));
            double s = sw.Elapsed.TotalSeconds;
            GC.KeepAlive(sinks);
            best = Math.Max(best, threads * iterations * 12.0 * lanes * 2 / s / 1e9);
        }
        return best;
    }

    private static float FmaLoop(long iterations)
    {
        if (Avx512F.IsSupported)
        {
            var m = Vector512.Create(0.999999f);
            var c = Vector512.Create(1e-7f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c);
                a2 = Avx512F.FusedMultiplyAdd(a2, m, c); a3 = Avx512F.FusedMultiplyAdd(a3, m, c);
                a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
                a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c);
                a8 = Avx512F.FusedMultiplyAdd(a8, m, c); a9 = Avx512F.FusedMultiplyAdd(a9, m, c);
                a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
        else
        {
            var m = Vector256.Create(0.999999f);
            var c = Vector256.Create(1e-7f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Mad(a0, m, c); a1 = Mad(a1, m, c); a2 = Mad(a2, m, c); a3 = Mad(a3, m, c);
                a4 = Mad(a4, m, c); a5 = Mad(a5, m, c); a6 = Mad(a6, m, c); a7 = Mad(a7, m, c);
                a8 = Mad(a8, m, c); a9 = Mad(a9, m, c); a10 = Mad(a10, m, c); a11 = Mad(a11, m, c);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }

    private static Vector256<float> Mad(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;
}
