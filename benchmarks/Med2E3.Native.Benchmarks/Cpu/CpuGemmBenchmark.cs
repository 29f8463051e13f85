using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Med2E3.Native.Ops.Cpu;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench cpu-gemm [--threads 1|2] [--repeats R] [--quick] [--json FILE] [--openblas-core NAME]
///   Every linear layer of the model at its token counts: PackedLinear over bf16 weights (the checkpoint dtype) against
///   OpenBLAS cblas_sgemm (f32 copies of the same weights, its threads set to ours) and the generic blocked
///   Gemm.Sgemm, interleaved in one run, with the machine's FMA peak and read bandwidth measured in the same run
///   (the floors) and the 2-thread scaling of PackedLinear and OpenBLAS at one large shape. OpenBLAS picks its kernels
///   from the CPU it detects (the core name is printed); under a hypervisor that can be a generic one, so
///   --openblas-core (OPENBLAS_CORETYPE, e.g. SkylakeX or Zen) pins the kernels it would use on that CPU.
/// med2e3-bench cpu-gemm --shape M,N,K | --linear M,N,K ... [--repeats R] [--threads T] [--json FILE]
///   The raw mode: Gemm.Sgemm against cblas_sgemm on the given shapes (B as K×N, or B^T as N×K with --linear).
/// OpenBLAS is loaded with NativeLibrary at run time (libopenblas.so.0, Debian libopenblas0-pthread); it is only a
/// yardstick and never a dependency of the library. Without it the tables say so and time ours only.
/// </summary>
public static unsafe partial class CpuGemmBenchmark
{
    private const int CblasRowMajor = 101;
    private const int CblasNoTrans = 111;
    private const int CblasTrans = 112;


    public static int Run(string[] args)
    {
        if (args.Contains("--shape") || args.Contains("--linear")) return RunRaw(args);
        return RunModel(args);
    }

    private static int RunRaw(string[] args)
    {
        var shapes = new List<(int M, int N, int K, bool TransB)>();
        int repeats = 10;
        int threads = Environment.ProcessorCount;
        string? json = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--shape":
                    var p = args[++i].Split(',').Select(int.Parse).ToArray();
                    shapes.Add((p[0], p[1], p[2], false));
                    break;
                case "--linear":
                    var q = args[++i].Split(',').Select(int.Parse).ToArray();
                    shapes.Add((q[0], q[1], q[2], true));
                    break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": json = args[++i]; break;
                default:
                    Console.Error.WriteLine($"cpu-gemm: unknown option {args[i]}");
                    return 2;
            }
        }
        if (shapes.Count == 0) shapes.Add((1024, 1024, 1024, false));
        repeats = Math.Max(repeats, 10);
        Gemm.MaxThreads = threads;

        var blas = LoadOpenBlas(threads, out string blasNote);
        Console.WriteLine($"cpu-gemm: {Environment.ProcessorCount} logical CPUs, {threads} threads, median of {repeats} runs after 2 warm-ups, micro-tile 6x{Gemm.NR}");
        Console.WriteLine($"yardstick: {blasNote}");
        Console.WriteLine($"{"shape (M,N,K)",-22} {"ours ms",10} {"GFLOP/s",9} {"openblas ms",12} {"GFLOP/s",9} {"ratio",7} {"NMSE",10}");
        var rows = new List<Dictionary<string, object>>();
        foreach (var (m, n, k, tb) in shapes)
        {
            var a = Random(m * k, 1);
            var b = Random(k * n, 2);
            var c1 = new float[m * n];
            var c2 = new float[m * n];
            double ours, theirs = double.NaN, nmse = double.NaN;
            fixed (float* pa = a, pb = b, pc1 = c1, pc2 = c2)
            {
                float* A = pa, B = pb, C1 = pc1, C2 = pc2;
                int ldb = tb ? k : n;
                Action runOurs = () => Gemm.Sgemm(false, tb, m, n, k, 1f, A, k, B, ldb, 0f, C1, n, null);
                if (blas is null) ours = Time(repeats, runOurs);
                else
                {
                    // Interleaved: each repetition times ours then OpenBLAS, so both see the same machine load.
                    (ours, theirs) = TimeBoth(repeats, runOurs,
                        () => blas(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1f, A, k, B, ldb, 0f, C2, n));
                    double num = 0, den = 0;
                    for (int i = 0; i < c1.Length; i++)
                    {
                        num += (double)(c1[i] - c2[i]) * (c1[i] - c2[i]);
                        den += (double)c2[i] * c2[i];
                    }
                    nmse = num / den;
                }
            }
            double flops = 2.0 * m * n * k;
            double ratio = theirs / ours;
            string label = $"{m},{n},{k}{(tb ? " (B^T)" : "")}";
            Console.WriteLine($"{label,-22} {ours * 1e3,10:F2} {flops / ours / 1e9,9:F1} {theirs * 1e3,12:F2} {flops / theirs / 1e9,9:F1} {ratio,7:F2} {nmse,10:E1}");
            rows.Add(new Dictionary<string, object>
            {
                ["m"] = m, ["n"] = n, ["k"] = k, ["transB"] = tb,
                ["ours_ms"] = Math.Round(ours * 1e3, 3), ["ours_gflops"] = Math.Round(flops / ours / 1e9, 1),
                ["openblas_ms"] = double.IsNaN(theirs) ? -1 : Math.Round(theirs * 1e3, 3),
                ["openblas_gflops"] = double.IsNaN(theirs) ? -1 : Math.Round(flops / theirs / 1e9, 1),
                ["openblas_time_over_ours"] = double.IsNaN(ratio) ? -1 : Math.Round(ratio, 3),
                ["nmse_vs_openblas"] = double.IsNaN(nmse) ? -1 : nmse,
            });
        }
        var doc = new Dictionary<string, object>
        {
            ["benchmark"] = "cpu-gemm", ["threads"] = threads, ["repeats"] = repeats, ["statistic"] = "median",
            ["micro_tile"] = $"6x{Gemm.NR}", ["yardstick"] = blasNote, ["results"] = rows,
        };
        string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null) File.WriteAllText(json, text);
        Console.WriteLine("ratio = OpenBLAS time / our time (1.0 = parity, 0.5 = ours twice as slow).");
        return 0;
    }

    internal static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    private static double Time(int repeats, Action f)
    {
        f();
        f();
        var t = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            f();
            t[i] = sw.Elapsed.TotalSeconds;
        }
        return Bench.Median(t);
    }

    private static (double A, double B) TimeBoth(int repeats, Action fa, Action fb)
    {
        fa();
        fb();
        fa();
        fb();
        var ta = new double[repeats];
        var tb = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            fa();
            ta[i] = sw.Elapsed.TotalSeconds;
            sw.Restart();
            fb();
            tb[i] = sw.Elapsed.TotalSeconds;
        }
        return (Bench.Median(ta), Bench.Median(tb));
    }

    internal delegate void SgemmFn(int order, int ta, int tb, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc);

    internal static SgemmFn? LoadOpenBlas(int threads, out string note)
    {
        foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "openblas" })
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out var f)) continue;
            if (NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var st))
                ((delegate* unmanaged<int, void>)st)(threads);
            string cfg = "";
            if (NativeLibrary.TryGetExport(h, "openblas_get_config", out var gc))
                cfg = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)gc)()) ?? "";
            note = $"OpenBLAS cblas_sgemm from {name} ({cfg.Trim()}), {threads} threads";
            var fp = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)f;
            return (o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc) => fp(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
        }
        note = "OpenBLAS not found (apt-get install libopenblas0-pthread); timing ours only";
        return null;
    }
}
