using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Benchmarks;

/// <summary>One measured configuration.</summary>
public sealed record BenchRow(
    string Op,
    string Kernel,
    string Shape,
    double MedianUs,
    double MinUs,
    double? GBps,
    double? Tflops,
    double? FractionOfCopy,
    double? FractionOfPeak,
    string Floor,
    string Check);

/// <summary>Timing with CUDA events and the result table.</summary>
public sealed class Bench(CudaDevice device, BenchOptions options)
{
    private readonly List<BenchRow> _rows = [];
    private DeviceBuffer? _flush;

    public CudaDevice Device { get; } = device;

    public CudaStream Stream => Device.Stream;

    public BenchOptions Options { get; } = options;

    /// <summary>Measured device-to-device copy bandwidth (GB/s, read + write), the practical memory ceiling.</summary>
    public double CopyGBps { get; set; }

    public int Failures { get; private set; }

    /// <summary>NVRTC compile times measured on this device's architecture.</summary>
    public IReadOnlyList<CompileTimes.Row> Compile { get; set; } = [];

    /// <summary>
    /// Runs <paramref name="work"/> <see cref="BenchOptions.Warmup"/> times, then <see cref="BenchOptions.Runs"/>
    /// timed times, each between two events, with L2 flushed before each. Returns (median, min) in microseconds.
    /// </summary>
    public (double MedianUs, double MinUs) Time(Action<CudaStream> work)
    {
        // Twice the L2 size, rewritten between runs, evicts the previous run's data.
        _flush ??= Device.Pool.Rent(Math.Max(2L * Device.L2CacheBytes, 8 << 20));
        for (int i = 0; i < Options.Warmup; i++)
        {
            work(Stream);
        }

        using CudaEvent start = Device.CreateEvent();
        using CudaEvent end = Device.CreateEvent();
        var times = new double[Options.Runs];
        for (int i = 0; i < Options.Runs; i++)
        {
            Stream.Memset8(_flush.Pointer, (byte)i, _flush.Bytes);
            start.Record(Stream);
            work(Stream);
            end.Record(Stream);
            end.Synchronize();
            times[i] = CudaEvent.ElapsedMilliseconds(start, end) * 1000.0;
        }

        return (Median(times), times.Min());
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count); sorts them in place.</summary>
    public static double Median(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    /// <summary>Records a memory-bound row: GB/s from <paramref name="bytes"/>, fractions of the copy ceiling and of peak.</summary>
    public void AddMemoryRow(string op, string kernel, string shape, long bytes, (double MedianUs, double MinUs) t, string floor, string check)
    {
        double gbps = bytes / (t.MedianUs * 1e-6) / 1e9;
        double? peak = Device.PeakMemoryBandwidthGBs > 0 ? gbps / Device.PeakMemoryBandwidthGBs : null;
        double? ofCopy = CopyGBps > 0 ? gbps / CopyGBps : null;
        Add(new BenchRow(op, kernel, shape, t.MedianUs, t.MinUs, gbps, null, ofCopy, peak, floor, check));
    }

    /// <summary>Records a compute-bound row: TFLOP/s from <paramref name="flops"/>.</summary>
    public void AddComputeRow(string op, string kernel, string shape, double flops, (double MedianUs, double MinUs) t, string floor, string check)
    {
        double tflops = flops / (t.MedianUs * 1e-6) / 1e12;
        Add(new BenchRow(op, kernel, shape, t.MedianUs, t.MinUs, null, tflops, null, null, floor, check));
    }

    private void Add(BenchRow row)
    {
        _rows.Add(row);
        if (!row.Check.StartsWith("ok", StringComparison.Ordinal))
        {
            Failures++;
        }

        Console.WriteLine($"  {row.Op,-12} {row.Kernel,-28} {row.Shape,-22} {row.MedianUs,10:F1} µs  "
            + (row.GBps is { } g ? $"{g,8:F0} GB/s" : $"{row.Tflops,8:F1} TFLOP/s") + $"  {row.Check}");
    }

    public void PrintTable(TextWriter w)
    {
        w.WriteLine();
        w.WriteLine($"card: {Device.Name} ({Device.Arch}); driver CUDA {CudaRuntime.FormatVersion(CudaRuntime.DriverVersion)}; "
            + $"copy ceiling {CopyGBps:F0} GB/s; theoretical DRAM {Device.PeakMemoryBandwidthGBs:F0} GB/s");
        w.WriteLine();
        w.WriteLine("| op | kernel | shape | median µs | min µs | GB/s | TFLOP/s | % of copy | % of peak DRAM | floor (header) | check |");
        w.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (BenchRow r in _rows)
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Op} | {r.Kernel} | {r.Shape} | {r.MedianUs:F1} | {r.MinUs:F1} | {Fmt(r.GBps, "F0")} | {Fmt(r.Tflops, "F1")} | "
                + $"{Pct(r.FractionOfCopy)} | {Pct(r.FractionOfPeak)} | {r.Floor} | {r.Check} |"));
        }

        if (Compile.Count > 0)
        {
            CompileTimes.Print(w, Compile);
        }
    }

    public void WriteJson(string path)
    {
        var doc = new
        {
            card = Device.Name,
            arch = Device.Arch,
            sms = Device.SmCount,
            driver = CudaRuntime.FormatVersion(CudaRuntime.DriverVersion),
            nvrtc = NvrtcRuntime.Version.ToString(),
            cublas = CublasRuntime.IsAvailable ? CublasRuntime.FormatVersion(CublasRuntime.Version) : null,
            copy_gbps = CopyGBps,
            peak_dram_gbps = Device.PeakMemoryBandwidthGBs,
            runs = Options.Runs,
            warmup = Options.Warmup,
            rows = _rows,
            compile = Compile,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string Fmt(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "—";

    private static string Pct(double? v) => v is { } x ? (100 * x).ToString("F0", CultureInfo.InvariantCulture) + " %" : "—";
}
