using System.Diagnostics;
using System.Globalization;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Benchmarks;

/// <summary>
/// NVRTC compile time per kernel file: cold (no cache, median of several compiles) and warm (served from the disk
/// cache). Needs only NVRTC, so it runs on machines without a GPU.
/// </summary>
public static class CompileTimes
{
    public sealed record Row(string File, string Arch, string Target, double ColdMs, double WarmMs, int ImageBytes);

    public static IReadOnlyList<Row> Measure(string arch, int repeats)
    {
        string saved = RuntimeOptions.KernelCacheDirectory;
        string dir = Path.Combine(Path.GetTempPath(), "med2e3-compile-times-" + Guid.NewGuid().ToString("N"));
        RuntimeOptions.KernelCacheDirectory = dir;
        var rows = new List<Row>();
        try
        {
            foreach (string file in KernelSources.Files)
            {
                var cold = new double[repeats];
                KernelBinary? binary = null;
                for (int i = 0; i < repeats; i++)
                {
                    var clock = Stopwatch.StartNew();
                    binary = KernelCompiler.Compile(file, arch, useDiskCache: false);
                    cold[i] = clock.Elapsed.TotalMilliseconds;
                }

                KernelCompiler.Compile(file, arch); // fills the cache
                var warm = new double[repeats];
                for (int i = 0; i < repeats; i++)
                {
                    var clock = Stopwatch.StartNew();
                    KernelBinary cached = KernelCompiler.Compile(file, arch);
                    warm[i] = clock.Elapsed.TotalMilliseconds;
                    if (!cached.FromCache)
                    {
                        throw new InvalidOperationException($"{file}: expected a cache hit");
                    }
                }

                rows.Add(new Row(file, arch, binary!.Target, Bench.Median(cold), Bench.Median(warm), binary.Image.Length));
            }
        }
        finally
        {
            RuntimeOptions.KernelCacheDirectory = saved;
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        return rows;
    }

    public static void Print(TextWriter w, IReadOnlyList<Row> rows)
    {
        w.WriteLine();
        w.WriteLine($"NVRTC {NvrtcRuntime.Version} compile times (median), cold = no cache, warm = disk cache hit");
        w.WriteLine();
        w.WriteLine("| file | arch | target | cold ms | warm ms | image bytes |");
        w.WriteLine("|---|---|---|---:|---:|---:|");
        foreach (Row r in rows)
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.File} | {r.Arch} | {r.Target} | {r.ColdMs:F0} | {r.WarmMs:F2} | {r.ImageBytes} |"));
        }
    }
}
