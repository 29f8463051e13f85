using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Med2E3.Native.Ops.Cpu;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>The model-shape mode of cpu-gemm (see the summary in CpuGemmBenchmark.cs) and its two floors.</summary>
public static unsafe partial class CpuGemmBenchmark
{
    private sealed record Layer(string Model, string Name, int M, int N, int K);

    /// <summary>Every linear layer of Med-2E3 at the token counts it runs at (y[M, N] = x[M, K]·W[N, K]ᵀ).</summary>
    private static List<Layer> ModelLayers(bool quick)
    {
        var list = new List<Layer>();
        void Add(string model, int m, params (string Name, int N, int K)[] layers)
        {
            foreach (var (name, n, k) in layers) list.Add(new Layer(model, name, m, n, k));
        }
        (string, int, int)[] vit = [("qkv", 2304, 768), ("o", 768, 768), ("fc1", 3072, 768), ("fc2", 768, 3072)];
        (string, int, int)[] siglip = [("qkv", 3072, 1024), ("o", 1024, 1024), ("fc1", 4096, 1024), ("fc2", 1024, 4096)];
        (string, int, int)[] phi = [("qkv", 9216, 3072), ("o", 3072, 3072), ("gate_up", 16384, 3072), ("down", 3072, 8192), ("lm_head", 32064, 3072)];
        if (quick)
        {
            // One layer per (model, M): the table's shape classes in a fraction of the time.
            Add("ViT-3D", 2049, vit[2]);
            Add("SigLIP-L", 256, siglip[2]);
            Add("SigLIP-L", 8192, siglip[3]);
            Add("BERT", 20, vit[2]);
            Add("Phi-3", 1, phi[0]);
            Add("Phi-3", 20, phi[3]);
            Add("Phi-3", 572, phi[2]);
            return list;
        }
        Add("ViT-3D", 2049, vit);
        Add("SigLIP-L", 256, siglip);
        Add("SigLIP-L", 8192, siglip);
        Add("BERT", 20, vit);
        Add("Phi-3", 1, phi);
        Add("Phi-3", 20, phi);
        Add("Phi-3", 572, phi);
        return list;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static int RunModel(string[] args)
    {
        int threads = Environment.ProcessorCount;
        int repeats = 5;
        bool quick = false;
        string? json = null, only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--quick": quick = true; break;
                case "--cpu-time": _cpuTime = true; break;
                case "--only": only = args[++i]; break;
                case "--json": json = args[++i]; break;
                case "--openblas-core": SetNativeEnvironment("OPENBLAS_CORETYPE", args[++i]); break;
                default:
                    Console.Error.WriteLine($"cpu-gemm: unknown option {args[i]}");
                    return 2;
            }
        }
        if (threads < 1) threads = 1;
        if (quick) repeats = Math.Min(repeats, 3);
        repeats = Math.Max(1, repeats);
        string loadBefore = LoadAverage();

        Gemm.MaxThreads = threads;
        var blas = LoadOpenBlas(threads, out string blasNote);
        var setBlasThreads = OpenBlasSetThreads();

        double peak1 = FmaPeak(1), peakT = threads == 1 ? peak1 : FmaPeak(threads);
        double bandwidth = ReadBandwidth(threads, quick ? 256L << 20 : 1L << 30);
        Console.WriteLine($"cpu-gemm (model shapes): {Environment.ProcessorCount} logical CPUs, {threads} threads, median of {repeats} after 1 warm-up, load average {loadBefore}");
        Console.WriteLine($"floors: AVX-512 FMA peak {peak1:F1} GFLOP/s on 1 thread, {peakT:F1} on {threads}; read bandwidth {bandwidth:F1} GB/s on {threads} threads");
        Console.WriteLine($"yardstick: {blasNote}");
        Console.WriteLine($"{"model",-9} {"layer",-8} {"M",5} {"N",6} {"K",5} | {"packed ms",10} {"GFLOP/s",8} {"%peak",6} {"GB/s",6} {"%bw",5} | {"openblas ms",11} {"GFLOP/s",8} {"ratio",6} | {"Sgemm ms",9} {"ratio",6} | {"NMSE",8}");

        var rows = new List<Dictionary<string, object>>();
        double minRatio = double.PositiveInfinity, minLargePeak = double.PositiveInfinity;
        foreach (var layer in ModelLayers(quick && only is null))
        {
            if (only is not null && !$"{layer.Model} {layer.Name} {layer.M}".Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var r = TimeLayer(layer, threads, repeats, blas);
            double flops = 2.0 * layer.M * layer.N * layer.K;
            double gf = flops / r.Packed / 1e9;
            double bytes = 2.0 * layer.N * layer.K;
            bool streaming = layer.M <= 20;
            double ratio = r.Blas / r.Packed;
            if (!double.IsNaN(ratio)) minRatio = Math.Min(minRatio, ratio);
            if (layer.M >= 256) minLargePeak = Math.Min(minLargePeak, gf / peakT);
            string gbs = streaming ? $"{bytes / r.Packed / 1e9,6:F1}" : $"{"",6}";
            string bw = streaming ? $"{bytes / r.Packed / 1e9 / bandwidth * 100,5:F0}" : $"{"",5}";
            Console.WriteLine($"{layer.Model,-9} {layer.Name,-8} {layer.M,5} {layer.N,6} {layer.K,5} | {r.Packed * 1e3,10:F3} {gf,8:F1} {gf / peakT * 100,6:F1} {gbs} {bw} | " +
                $"{(double.IsNaN(r.Blas) ? "not installed" : $"{r.Blas * 1e3,11:F3} {flops / r.Blas / 1e9,8:F1} {ratio,6:F2}")} | {r.Old * 1e3,9:F3} {r.Old / r.Packed,6:F2} | {r.Nmse,8:E1}");
            rows.Add(new Dictionary<string, object>
            {
                ["model"] = layer.Model, ["layer"] = layer.Name, ["m"] = layer.M, ["n"] = layer.N, ["k"] = layer.K,
                ["packed_ms"] = Math.Round(r.Packed * 1e3, 4), ["packed_gflops"] = Math.Round(gf, 2),
                ["fraction_of_fma_peak"] = Math.Round(gf / peakT, 4),
                ["weight_gbps"] = streaming ? Math.Round(bytes / r.Packed / 1e9, 2) : -1,
                ["fraction_of_bandwidth"] = streaming ? Math.Round(bytes / r.Packed / 1e9 / bandwidth, 4) : -1,
                ["openblas_ms"] = double.IsNaN(r.Blas) ? -1 : Math.Round(r.Blas * 1e3, 4),
                ["openblas_time_over_packed"] = double.IsNaN(ratio) ? -1 : Math.Round(ratio, 3),
                ["sgemm_ms"] = Math.Round(r.Old * 1e3, 4), ["sgemm_time_over_packed"] = Math.Round(r.Old / r.Packed, 3),
                ["nmse_packed_vs_openblas"] = double.IsNaN(r.Nmse) ? -1 : r.Nmse,
            });
        }

        // 2-thread scaling at one large shape and at the decode GEMV, ours and OpenBLAS's.
        var scaling = new List<Dictionary<string, object>>();
        if (threads > 1 && only is null)
        {
            foreach (var layer in new[] { new Layer("ViT-3D", "fc1", 2049, 3072, 768), new Layer("Phi-3", "qkv", 1, 9216, 3072) })
            {
                setBlasThreads?.Invoke(1);
                var one = TimeLayer(layer, 1, repeats, blas, skipOld: true);
                setBlasThreads?.Invoke(threads);
                var many = TimeLayer(layer, threads, repeats, blas, skipOld: true);
                Console.WriteLine($"scaling {layer.Model} {layer.Name} M={layer.M}: packed {one.Packed * 1e3:F3} ms on 1 thread, {many.Packed * 1e3:F3} ms on {threads} " +
                    $"= {one.Packed / many.Packed:F2}x; openblas {(double.IsNaN(one.Blas) ? "n/a" : $"{one.Blas * 1e3:F3} -> {many.Blas * 1e3:F3} ms = {one.Blas / many.Blas:F2}x")}");
                scaling.Add(new Dictionary<string, object>
                {
                    ["model"] = layer.Model, ["layer"] = layer.Name, ["m"] = layer.M, ["n"] = layer.N, ["k"] = layer.K,
                    ["packed_ms_1"] = Math.Round(one.Packed * 1e3, 4), ["packed_ms_t"] = Math.Round(many.Packed * 1e3, 4),
                    ["packed_speedup"] = Math.Round(one.Packed / many.Packed, 3),
                    ["openblas_speedup"] = double.IsNaN(one.Blas) ? -1 : Math.Round(one.Blas / many.Blas, 3),
                });
            }
        }

        string loadAfter = LoadAverage();
        Console.WriteLine($"summary: lowest OpenBLAS time / packed time {minRatio:F2} (≥ 1 = at least OpenBLAS's speed); lowest fraction of FMA peak at M ≥ 256 {minLargePeak * 100:F1} %");
        Console.WriteLine($"ratio = OpenBLAS (or Sgemm) time / packed time. %peak against the {threads}-thread FMA peak; GB/s = bf16 weight bytes / time, %bw against the read bandwidth. Load average before {loadBefore}, after {loadAfter}.");
        var doc = new Dictionary<string, object>
        {
            ["benchmark"] = "cpu-gemm", ["mode"] = "model", ["threads"] = threads, ["repeats"] = repeats, ["statistic"] = "median",
            ["quick"] = quick, ["load_before"] = loadBefore, ["load_after"] = loadAfter,
            ["fma_peak_gflops_1"] = Math.Round(peak1, 2), ["fma_peak_gflops_t"] = Math.Round(peakT, 2),
            ["read_bandwidth_gbps"] = Math.Round(bandwidth, 2), ["yardstick"] = blasNote,
            ["weights"] = "bf16 for PackedLinear; f32 copies of the same values for OpenBLAS and Sgemm",
            ["results"] = rows, ["scaling"] = scaling,
            ["min_openblas_time_over_packed"] = double.IsInfinity(minRatio) ? -1 : Math.Round(minRatio, 3),
            ["min_fraction_of_peak_large_m"] = double.IsInfinity(minLargePeak) ? -1 : Math.Round(minLargePeak, 4),
        };
        string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
        if (json is not null)
        {
            File.WriteAllText(json, text);
            Console.WriteLine($"wrote {json}");
        }
        return 0;
    }

    private static bool _cpuTime;
    private static readonly Stopwatch Wall = Stopwatch.StartNew();

    /// <summary>Seconds of wall time, or of this process's CPU time with --cpu-time (1 thread on a loaded machine).</summary>
    private static double Clock() =>
        _cpuTime ? System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds : Wall.Elapsed.TotalSeconds;

    private readonly record struct LayerTimes(double Packed, double Blas, double Old, double Nmse);

    /// <summary>Times one layer, the implementations interleaved in each repetition so they see the same load.</summary>
    private static LayerTimes TimeLayer(Layer layer, int threads, int repeats, SgemmFn? blas, bool skipOld = false)
    {
        int m = layer.M, n = layer.N, k = layer.K;
        float[] wf = Random(n * k, 1);
        var wb = new ushort[wf.Length];
        for (int i = 0; i < wf.Length; i++)
        {
            wb[i] = Tensors.Precision.FloatToBf16(wf[i]);
            wf[i] = Tensors.Precision.Bf16ToFloat(wb[i]);
        }
        float[] x = Random(m * k, 2);
        float[] bias = Random(n, 3);
        var y1 = new float[(long)m * n];
        var y2 = new float[(long)m * n];
        using var lin = new PackedLinear(MemoryMarshal.AsBytes(wb.AsSpan()), WeightStorage.Bf16, n, k, CpuPrecision.F32) { MaxThreads = threads };
        Gemm.MaxThreads = threads;
        var tp = new List<double>();
        var tb = new List<double>();
        var to = new List<double>();
        fixed (float* px = x, pw = wf, pb = bias, py1 = y1, py2 = y2)
        {
            float* X = px, W = pw, B = pb, Y1 = py1, Y2 = py2;
            for (int rep = 0; rep <= repeats; rep++)
            {
                double s0 = Clock();
                lin.Forward(X, m, k, Y1, n, B);
                double t1 = Clock() - s0;
                double t2 = double.NaN, t3 = double.NaN;
                if (blas is not null)
                {
                    s0 = Clock();
                    blas(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, X, k, W, k, 0f, Y2, n);
                    t2 = Clock() - s0;
                }
                if (!skipOld)
                {
                    s0 = Clock();
                    Gemm.Sgemm(false, true, m, n, k, 1f, X, k, W, k, 0f, Y2, n, B);
                    t3 = Clock() - s0;
                }
                if (rep == 0) continue; // warm-up
                tp.Add(t1);
                tb.Add(t2);
                to.Add(t3);
            }
        }
        double nmse = double.NaN;
        if (blas is not null || !skipOld)
        {
            // Y2 holds the last of OpenBLAS or Sgemm; OpenBLAS has no bias, so compare without it.
            bool hasBias = !skipOld;
            double num = 0, den = 0;
            for (long i = 0; i < y1.Length; i++)
            {
                double want = y2[i] + (hasBias ? 0 : bias[i % n]);
                num += (y1[i] - want) * (y1[i] - want);
                den += want * want;
            }
            nmse = num / den;
        }
        return new LayerTimes(Bench.Median(tp.ToArray()), blas is null ? double.NaN : Bench.Median(tb.ToArray()),
            skipOld ? double.NaN : Bench.Median(to.ToArray()), nmse);
    }

    /// <summary>
    /// Sets a variable in the process's native environment (libc setenv), which OpenBLAS reads when it loads;
    /// Environment.SetEnvironmentVariable does not reach native code on Unix.
    /// </summary>
    private static void SetNativeEnvironment(string name, string value)
    {
        if (!NativeLibrary.TryLoad("libc.so.6", out var libc) || !NativeLibrary.TryGetExport(libc, "setenv", out var f))
        {
            Console.Error.WriteLine($"cpu-gemm: cannot set {name} (no libc setenv); set it in the shell");
            return;
        }
        var setenv = (delegate* unmanaged<byte*, byte*, int, int>)f;
        fixed (byte* n = System.Text.Encoding.ASCII.GetBytes(name + "\0"), v = System.Text.Encoding.ASCII.GetBytes(value + "\0"))
            setenv(n, v, 1);
    }

    private static Action<int>? OpenBlasSetThreads()
    {
        foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "openblas" })
        {
            if (NativeLibrary.TryLoad(name, out var h) && NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var st))
            {
                var f = (delegate* unmanaged<int, void>)st;
                return t => f(t);
            }
        }
        return null;
    }

    /// <summary>Runs <paramref name="body"/>(t) on <paramref name="threads"/> dedicated threads started together; returns the wall time.</summary>
    private static double OnThreads(int threads, Action<int> body)
    {
        using var start = new Barrier(threads + 1);
        var list = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            list[t] = new Thread(() =>
            {
                start.SignalAndWait();
                body(id);
            }) { IsBackground = true };
            list[t].Start();
        }
        start.SignalAndWait();
        var sw = Stopwatch.StartNew();
        foreach (var th in list) th.Join();
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>GFLOP/s of 16 independent 512-bit FMA chains per thread (latency × pipes covered), best of 5.</summary>
    private static double FmaPeak(int threads)
    {
        const long iters = 20_000_000;
        double best = double.PositiveInfinity;
        FmaLoop(1000);
        for (int rep = 0; rep < 5; rep++) best = Math.Min(best, OnThreads(threads, _ => FmaLoop(iters)));
        return threads * iters * 16.0 * Vector512<float>.Count * 2 / best / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iters)
    {
        var a = Vector512.Create(0.999f);
        var b = Vector512.Create(0.001f);
        Vector512<float> c0 = Vector512.Create(0.1f), c1 = Vector512.Create(0.2f), c2 = Vector512.Create(0.3f), c3 = Vector512.Create(0.4f);
        Vector512<float> c4 = Vector512.Create(0.5f), c5 = Vector512.Create(0.6f), c6 = Vector512.Create(0.7f), c7 = Vector512.Create(0.8f);
        Vector512<float> c8 = c0 + c4, c9 = c1 + c5, c10 = c2 + c6, c11 = c3 + c7, c12 = c0 * c1, c13 = c2 * c3, c14 = c4 * c5, c15 = c6 * c7;
        for (long i = 0; i < iters; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
            c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
            c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
            c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
            c12 = Vector512.FusedMultiplyAdd(c12, a, b); c13 = Vector512.FusedMultiplyAdd(c13, a, b);
            c14 = Vector512.FusedMultiplyAdd(c14, a, b); c15 = Vector512.FusedMultiplyAdd(c15, a, b);
        }
        var s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        return Vector512.Sum(s);
    }

    /// <summary>GB/s of a read-only streaming sum over <paramref name="bytes"/> split between the threads, median of 5.</summary>
    private static double ReadBandwidth(int threads, long bytes)
    {
        long n = bytes / 4 / (threads * 64L) * (threads * 64L);
        float* buf = (float*)NativeMemory.AlignedAlloc((nuint)(n * 4), 64);
        try
        {
            float* b = buf;
            OnThreads(threads, t =>
            {
                long s0 = n * t / threads, s1 = n * (t + 1) / threads;
                new Span<float>(b + s0, checked((int)(s1 - s0))).Fill(1f);
            });
            var times = new double[5];
            OnThreads(threads, t => SumRange(b + n * t / threads, n / threads));
            for (int rep = 0; rep < times.Length; rep++)
                times[rep] = OnThreads(threads, t => SumRange(b + n * t / threads, n / threads));
            return n * 4.0 / Bench.Median(times) / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(buf);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float SumRange(float* p, long n)
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (long i = 0; i + 64 <= n; i += 64)
        {
            s0 += Vector512.Load(p + i);
            s1 += Vector512.Load(p + i + 16);
            s2 += Vector512.Load(p + i + 32);
            s3 += Vector512.Load(p + i + 48);
        }
        return Vector512.Sum((s0 + s1) + (s2 + s3));
    }
}
