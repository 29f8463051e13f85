using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench cpu-bf16 [--linear M,N,K]... [--quick] [--repeats R] [--threads T] [--json FILE]
/// y = x·Wᵀ at the model's linear shapes in the three ways the CPU can run them, interleaved in one run so they see the
/// same load: the f32 definition (floor), the bf16 precision on the project's own kernels (anchor: the fallback) and
/// the bf16 precision on oneDNN. Checks first that oneDNN's result matches the own bf16 kernels (NMSE, same exact
/// products summed in another order). Prints a table, the load average, and JSON.
/// </summary>
public static unsafe class CpuBf16Benchmark
{
    public static int Run(string[] args)
    {
        var shapes = new List<(string Name, int M, int N, int K)>();
        int repeats = 10;
        int threads = Environment.ProcessorCount;
        bool quick = false;
        string? json = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--linear":
                    var p = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                    shapes.Add(($"{p[0]},{p[1]},{p[2]}", p[0], p[1], p[2]));
                    break;
                case "--quick": quick = true; break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": json = args[++i]; break;
                default:
                    Console.Error.WriteLine($"cpu-bf16: unknown option {args[i]}");
                    return 2;
            }
        }

        if (shapes.Count == 0)
        {
            // Phi-3-mini (hidden 3072, MLP 8192, qkv 9216) at decode (M = 1) and a 128-token prefill; SigLIP-L
            // (width 1024, MLP 4096) over 577 tokens. --quick keeps the shapes' K and N classes at a fraction of the work.
            shapes.AddRange(quick
                ? [("phi3 qkv decode", 1, 3072, 3072), ("phi3 o prefill", 64, 1024, 3072), ("siglip fc1", 128, 1024, 1024)]
                : [("phi3 qkv decode", 1, 9216, 3072), ("phi3 down decode", 1, 3072, 8192),
                   ("phi3 o prefill", 128, 3072, 3072), ("siglip qkv", 577, 3072, 1024), ("siglip fc1", 577, 4096, 1024)]);
        }

        repeats = Math.Max(repeats, 10);
        Gemm.MaxThreads = threads;
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        Console.WriteLine($"cpu-bf16: {Environment.ProcessorCount} logical CPUs, {threads} threads, median of {repeats} "
            + $"interleaved runs after 2 warm-ups; load average {load}");
        Console.WriteLine($"oneDNN: {DnnlRuntime.Describe()}");
        Console.WriteLine($"{CpuMatMulPath.Describe(CpuPrecision.F32)}; {CpuMatMulPath.Describe(CpuPrecision.Bf16)}");
        Console.WriteLine($"{"shape",-18} {"M,N,K",-16} {"f32 ms",9} {"own bf16 ms",12} {"oneDNN ms",10} {"GFLOP/s",8} "
            + $"{"f32/oneDNN",11} {"own/oneDNN",11} {"NMSE",9}");
        var rows = new List<Dictionary<string, object>>();
        foreach (var (name, m, n, k) in shapes)
        {
            float[] w = Random((long)n * k, 1);
            float[] x = Random((long)m * k, 2);
            float[] y1 = new float[(long)m * n], y2 = new float[(long)m * n], y3 = new float[(long)m * n];
            byte[] bytes = MemoryMarshal.AsBytes(w.AsSpan()).ToArray();
            using var f32 = new WidenedLinear(bytes, WeightStorage.F32, n, k, CpuPrecision.F32);
            using var own = new WidenedLinear(bytes, WeightStorage.F32, n, k, CpuPrecision.Bf16);
            using DnnlBf16Linear? dnnl = DnnlRuntime.IsAvailable ? new DnnlBf16Linear(bytes, WeightStorage.F32, n, k) : null;
            double tF32, tOwn, tDnnl = double.NaN, nmse = double.NaN;
            fixed (float* px = x, p1 = y1, p2 = y2, p3 = y3)
            {
                float* X = px, Y1 = p1, Y2 = p2, Y3 = p3;
                var runs = new List<Action>
                {
                    () => f32.Forward(X, m, k, Y1, n, null),
                    () => own.Forward(X, m, k, Y2, n, null),
                };
                if (dnnl is not null) runs.Add(() => dnnl.Forward(X, m, k, Y3, n, null));
                double[] t = TimeInterleaved(repeats, runs);
                (tF32, tOwn) = (t[0], t[1]);
                if (dnnl is not null)
                {
                    tDnnl = t[2];
                    double num = 0, den = 0;
                    for (long i = 0; i < y2.Length; i++)
                    {
                        num += ((double)y3[i] - y2[i]) * ((double)y3[i] - y2[i]);
                        den += (double)y2[i] * y2[i];
                    }
                    nmse = num / den;
                }
            }

            double flops = 2.0 * m * n * k;
            string check = double.IsNaN(nmse) ? "no oneDNN" : nmse <= 1e-10 ? "ok" : "MISMATCH";
            Console.WriteLine($"{name,-18} {$"{m},{n},{k}",-16} {tF32 * 1e3,9:F2} {tOwn * 1e3,12:F2} {tDnnl * 1e3,10:F2} "
                + $"{flops / tDnnl / 1e9,8:F1} {tF32 / tDnnl,11:F2} {tOwn / tDnnl,11:F2} {nmse,9:E1} {check}");
            rows.Add(new Dictionary<string, object>
            {
                ["shape"] = name, ["m"] = m, ["n"] = n, ["k"] = k,
                ["f32_ms"] = Math.Round(tF32 * 1e3, 3), ["own_bf16_ms"] = Math.Round(tOwn * 1e3, 3),
                ["onednn_bf16_ms"] = double.IsNaN(tDnnl) ? -1 : Math.Round(tDnnl * 1e3, 3),
                ["onednn_gflops"] = double.IsNaN(tDnnl) ? -1 : Math.Round(flops / tDnnl / 1e9, 1),
                ["f32_time_over_onednn"] = double.IsNaN(tDnnl) ? -1 : Math.Round(tF32 / tDnnl, 3),
                ["own_bf16_time_over_onednn"] = double.IsNaN(tDnnl) ? -1 : Math.Round(tOwn / tDnnl, 3),
                ["nmse_onednn_vs_own_bf16"] = double.IsNaN(nmse) ? -1 : nmse, ["check"] = check,
                ["onednn_kernel"] = dnnl?.Kernel ?? "",
            });
        }

        var doc = new Dictionary<string, object>
        {
            ["benchmark"] = "cpu-bf16", ["threads"] = threads, ["repeats"] = repeats, ["statistic"] = "median",
            ["load_average"] = load, ["onednn"] = DnnlRuntime.Describe(), ["results"] = rows,
        };
        string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null) File.WriteAllText(json, text);
        Console.WriteLine("f32/oneDNN = f32 time / oneDNN bf16 time (2.0 = oneDNN twice as fast); own/oneDNN likewise for the"
            + " bf16 fallback.");
        return rows.Any(r => (string)r["check"] == "MISMATCH") ? 1 : 0;
    }

    private static float[] Random(long n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    // Each repetition runs every variant once, in order, so all of them see the same machine load.
    private static double[] TimeInterleaved(int repeats, List<Action> runs)
    {
        for (int w = 0; w < 2; w++)
        {
            foreach (Action f in runs) f();
        }

        var t = new double[runs.Count][];
        for (int v = 0; v < runs.Count; v++) t[v] = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            for (int v = 0; v < runs.Count; v++)
            {
                var sw = Stopwatch.StartNew();
                runs[v]();
                t[v][i] = sw.Elapsed.TotalSeconds;
            }
        }

        return [.. t.Select(Bench.Median)];
    }
}
