using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Med2E3.Native.Ops.Cpu;
using Attention = Med2E3.Native.Ops.Ops.Attention;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench cpu-attention [--threads T] [--repeats R] [--json FILE] [--quick] [--case vit|siglip|prefill|decode]
/// The f32 CPU attention forward at the model's shapes: the blocked GEMM kernel (Attention.Fast, the old default)
/// against FlashAttention, interleaved per repetition on the same inputs and the same number of threads. Compute
/// rows are put against the AVX-512 FMA peak measured in the same run (GFLOP/s, causal counting only the visible
/// half); the decode row against a streaming-read bandwidth measured in the same run, with K/V spread over enough
/// layer copies that every step reads them from memory, as a real decode step does. Median of R runs; the load
/// average is printed before and after, since a loaded machine lowers every figure.
/// </summary>
public static unsafe class CpuAttentionBenchmark
{
    private sealed record Case(string Name, int B, int H, int Tq, int Tk, int Dh, bool Causal, int Copies);

    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount, repeats = 0;
        bool quick = false;
        string? json = null, only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": json = args[++i]; break;
                case "--quick": quick = true; break;
                case "--case": only = args[++i]; break;
                default:
                    Console.Error.WriteLine($"cpu-attention: unknown option {args[i]}");
                    return 2;
            }
        }
        if (threads < 1)
        {
            Console.Error.WriteLine("cpu-attention: --threads must be ≥ 1");
            return 2;
        }
        if (repeats <= 0) repeats = quick ? 3 : 7;
        FlashAttention.MaxThreads = threads;
        string loadBefore = LoadAverage();

        double peak = FmaPeak(threads, quick);
        double stream = StreamRead(threads, quick);
        Console.WriteLine($"cpu-attention: {Environment.ProcessorCount} logical CPUs, {threads} threads, median of {repeats} runs after 1 warm-up, "
            + $"512-bit vectors {(FlashAttention.Available ? "in hardware" : "emulated")}, load average {loadBefore}");
        Console.WriteLine($"floor: FMA peak {peak:F1} GFLOP/s ({threads} threads), streaming read {stream:F1} GB/s");
        Console.WriteLine($"{"case",-34} {"old ms",9} {"GFLOP/s",8} {"flash ms",9} {"GFLOP/s",8} {"% peak",7} {"speedup",8} {"NMSE",9} {"old cpu",9} {"flash cpu",9}");

        var cases = new List<Case>
        {
            new("vit 1x12x2049x64", 1, 12, 2049, 2049, 64, false, 1),
            new("siglip 32x16x256x64", 32, 16, 256, 256, 64, false, 1),
            new("phi3 prefill 1x32x572x96 causal", 1, 32, 572, 572, 96, true, 1),
            new("phi3 decode 1x32x1x96 Tk 600", 1, 32, 1, 600, 96, true, quick ? 8 : 24),
        };
        var rows = new List<Dictionary<string, object>>();
        foreach (var c in cases)
        {
            if (only is not null && !c.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var r = Measure(c, threads, repeats);
            double visible = c.Causal ? VisiblePairs(c.Tq, c.Tk) : (double)c.Tq * c.Tk;
            double flops = 4.0 * c.B * c.H * c.Dh * visible;
            double bytes = 2.0 * c.B * c.H * c.Tk * c.Dh * sizeof(float);
            double oldG = flops / r.OldS / 1e9, newG = flops / r.FlashS / 1e9;
            var row = new Dictionary<string, object>
            {
                ["case"] = c.Name, ["b"] = c.B, ["h"] = c.H, ["tq"] = c.Tq, ["tk"] = c.Tk, ["dh"] = c.Dh, ["causal"] = c.Causal,
                ["flops"] = flops, ["old_ms"] = Math.Round(r.OldS * 1e3, 4), ["flash_ms"] = Math.Round(r.FlashS * 1e3, 4),
                ["old_gflops"] = Math.Round(oldG, 2), ["flash_gflops"] = Math.Round(newG, 2),
                ["flash_fraction_of_fma_peak"] = Math.Round(newG / peak, 4), ["speedup"] = Math.Round(r.OldS / r.FlashS, 3),
                ["old_cpu_ms"] = Math.Round(r.OldCpuS * 1e3, 4), ["flash_cpu_ms"] = Math.Round(r.FlashCpuS * 1e3, 4),
                ["nmse_flash_vs_old"] = r.Nmse,
            };
            Console.WriteLine($"{c.Name,-34} {r.OldS * 1e3,9:F3} {oldG,8:F1} {r.FlashS * 1e3,9:F3} {newG,8:F1} {100 * newG / peak,6:F1}% {r.OldS / r.FlashS,8:F2} {r.Nmse,9:E1} {r.OldCpuS * 1e3,9:F2} {r.FlashCpuS * 1e3,9:F2}");
            if (c.Tq <= FlashAttention.DecodeMaxQueries)
            {
                double oldBw = bytes / r.OldS / 1e9, newBw = bytes / r.FlashS / 1e9;
                Console.WriteLine($"{"  K/V read (" + (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB/step)",-34} {oldBw,9:F1} GB/s {newBw,12:F1} GB/s = {100 * newBw / stream:F0}% of streaming read");
                row["kv_bytes"] = bytes;
                row["old_gbps"] = Math.Round(oldBw, 2);
                row["flash_gbps"] = Math.Round(newBw, 2);
                row["flash_fraction_of_stream"] = Math.Round(newBw / stream, 4);
            }
            rows.Add(row);
        }
        string loadAfter = LoadAverage();
        Console.WriteLine($"load average after: {loadAfter}");
        var doc = new Dictionary<string, object>
        {
            ["benchmark"] = "cpu-attention", ["threads"] = threads, ["repeats"] = repeats, ["statistic"] = "median",
            ["logical_cpus"] = Environment.ProcessorCount, ["vector512_hardware"] = FlashAttention.Available,
            ["fma_peak_gflops"] = Math.Round(peak, 2), ["stream_read_gbps"] = Math.Round(stream, 2),
            ["load_before"] = loadBefore, ["load_after"] = loadAfter, ["results"] = rows,
        };
        string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
        if (json is not null) File.WriteAllText(json, text);
        Console.WriteLine("old = Attention.Fast (per 64-query block, packed GEMM over all keys); flash = FlashAttention.Forward;");
        Console.WriteLine("cpu = process CPU ms per call (all threads), which a loaded machine inflates less than wall ms;");
        Console.WriteLine("causal GFLOP/s count only the visible (query, key) pairs; speedup = old time / flash time.");
        return 0;
    }

    private static double VisiblePairs(int tq, int tk)
    {
        double n = 0;
        for (int i = 0; i < tq; i++) n += Math.Min(tk, i + (tk - tq) + 1);
        return n;
    }

    private static (double OldS, double FlashS, double OldCpuS, double FlashCpuS, double Nmse) Measure(Case c, int threads, int repeats)
    {
        long qn = (long)c.B * c.H * c.Tq * c.Dh, kn = (long)c.B * c.H * c.Tk * c.Dh;
        float* q = Alloc(qn, 1);
        float*[] ks = new float*[c.Copies], vs = new float*[c.Copies];
        for (int i = 0; i < c.Copies; i++)
        {
            ks[i] = Alloc(kn, 2 + 2 * i);
            vs[i] = Alloc(kn, 3 + 2 * i);
        }
        float* o1 = Alloc(qn, -1), o2 = Alloc(qn, -1);
        float* l1 = Alloc((long)c.B * c.H * c.Tq, -1), l2 = Alloc((long)c.B * c.H * c.Tq, -1);
        var lq = new Attention.Layout((long)c.H * c.Tq * c.Dh, (long)c.Tq * c.Dh, c.Dh);
        var lk = new Attention.Layout((long)c.H * c.Tk * c.Dh, (long)c.Tk * c.Dh, c.Dh);
        float scale = 1f / MathF.Sqrt(c.Dh);
        try
        {
            void Old()
            {
                for (int i = 0; i < c.Copies; i++)
                    Attention.Fast(q, lq, ks[i], lk, vs[i], lk, null, c.Causal, scale, c.B, c.H, c.Tq, c.Tk, c.Dh, o1, l1);
            }
            void Flash()
            {
                for (int i = 0; i < c.Copies; i++)
                    FlashAttention.Forward(q, lq, ks[i], lk, vs[i], lk, null, c.Causal, scale, c.B, c.H, c.Tq, c.Tk, c.Dh, o2, l2);
            }
            // Attention.Fast runs a plain Parallel.For; on a scheduler limited to `threads` tasks it uses that many.
            var limited = new ConcurrentExclusiveSchedulerPair(TaskScheduler.Default, threads).ConcurrentScheduler;
            void OnLimited(Action f) => Task.Factory.StartNew(f, CancellationToken.None, TaskCreationOptions.None, limited).Wait();
            OnLimited(Old);
            OnLimited(Flash);
            var to = new double[repeats];
            var tf = new double[repeats];
            var co = new double[repeats];
            var cf = new double[repeats];
            var proc = Process.GetCurrentProcess();
            for (int r = 0; r < repeats; r++)
            {
                // Process CPU time beside wall time: on a shared machine it shows the work done, not the share got.
                var cpu = proc.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                OnLimited(Old);
                to[r] = sw.Elapsed.TotalSeconds / c.Copies;
                proc.Refresh();
                co[r] = (proc.TotalProcessorTime - cpu).TotalSeconds / c.Copies;
                cpu = proc.TotalProcessorTime;
                sw.Restart();
                OnLimited(Flash);
                tf[r] = sw.Elapsed.TotalSeconds / c.Copies;
                proc.Refresh();
                cf[r] = (proc.TotalProcessorTime - cpu).TotalSeconds / c.Copies;
            }
            double num = 0, den = 0;
            for (long i = 0; i < qn; i++)
            {
                num += (double)(o2[i] - o1[i]) * (o2[i] - o1[i]);
                den += (double)o1[i] * o1[i];
            }
            return (Bench.Median(to), Bench.Median(tf), Bench.Median(co), Bench.Median(cf), num / den);
        }
        finally
        {
            NativeMemory.AlignedFree(q);
            for (int i = 0; i < c.Copies; i++)
            {
                NativeMemory.AlignedFree(ks[i]);
                NativeMemory.AlignedFree(vs[i]);
            }
            NativeMemory.AlignedFree(o1);
            NativeMemory.AlignedFree(o2);
            NativeMemory.AlignedFree(l1);
            NativeMemory.AlignedFree(l2);
        }
    }

    /// <summary>n floats, 64-byte aligned: uniform in ±[0.1, 1.6] from <paramref name="seed"/>, or zero for seed &lt; 0.</summary>
    private static float* Alloc(long n, int seed)
    {
        // SAFETY: n floats are allocated and every one is written before use; the caller frees the block.
        float* p = (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(n, 1) * sizeof(float)), 64);
        var rng = new Random(seed);
        for (long i = 0; i < n; i++)
        {
            float x = 0.1f + 1.5f * (float)rng.NextDouble();
            p[i] = seed < 0 ? 0f : rng.Next(2) == 0 ? x : -x;
        }
        return p;
    }

    /// <summary>
    /// GFLOP/s of `threads` threads each running 16 independent chains of 512-bit FMAs (enough to cover the FMA latency on
    /// two pipes); the best of several runs, as a peak is.
    /// </summary>
    private static double FmaPeak(int threads, bool quick)
    {
        long iters = quick ? 2_000_000 : 10_000_000;
        double best = 0;
        var sink = new float[threads];
        for (int rep = 0; rep < 5; rep++)
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sink[t] = FmaLoop(iters));
            double s = sw.Elapsed.TotalSeconds;
            best = Math.Max(best, threads * iters * 16.0 * 16 * 2 / s / 1e9);
        }
        return best;
    }

    private static float FmaLoop(long iters)
    {
        var m = Vector512.Create(0.999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        Vector512<float> a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            a12 = Vector512.FusedMultiplyAdd(a12, m, c); a13 = Vector512.FusedMultiplyAdd(a13, m, c);
            a14 = Vector512.FusedMultiplyAdd(a14, m, c); a15 = Vector512.FusedMultiplyAdd(a15, m, c);
        }
        var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
        return Vector512.Sum(s);
    }

    /// <summary>GB/s of `threads` threads summing disjoint shares of a buffer far larger than the caches (median of 5).</summary>
    private static double StreamRead(int threads, bool quick)
    {
        long n = (quick ? 64L : 256L) << 18; // floats: 64 or 256 MiB
        float* p = Alloc(n, 9);
        try
        {
            var t = new double[5];
            var sink = new float[threads];
            for (int rep = 0; rep < t.Length; rep++)
            {
                var sw = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    long s = n * w / threads / 64 * 64, e = n * (w + 1) / threads / 64 * 64;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (long i = s; i < e; i += 64)
                    {
                        a0 += Vector512.Load(p + i);
                        a1 += Vector512.Load(p + i + 16);
                        a2 += Vector512.Load(p + i + 32);
                        a3 += Vector512.Load(p + i + 48);
                    }
                    sink[w] = Vector512.Sum(a0 + a1 + a2 + a3);
                });
                t[rep] = sw.Elapsed.TotalSeconds;
            }
            return n * sizeof(float) / Bench.Median(t) / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(p);
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}
