using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops.Cpu;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench cpu-weights [--gib G] [--repeats R] [--precision f32|bf16] [--dir DIR] [--json FILE]
/// Writes a synthetic PyTorch checkpoint of G GiB (default 1) of bf16 [3072, 8192] linear weights (the Phi-3
/// gate_up shape, 48 MiB each), then times, on a warm page cache (one untimed pass first), the three steps of loading
/// it: open (zip directory + pickle), read (every entry's bytes, with the CRC-32 check of each entry on its first
/// read), prepare (PreparedLinear.Create of each weight). The CRC-32 alone is timed over the same bytes in memory
/// (System.IO.Hashing.Crc32) and reported as a share of the whole load: the budget is &lt; 10 %. Median of R runs;
/// the load average is printed, since the figures for the record are taken on a quiet machine.
/// </summary>
public static class CpuWeightsBenchmark
{
    private const int Rows = 3072, Cols = 8192;

    public static int Run(string[] args)
    {
        double gib = 1;
        int repeats = 5;
        string? json = null, dir = null;
        CpuPrecision precision = CpuPrecision.F32;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--gib": gib = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": json = args[++i]; break;
                case "--dir": dir = args[++i]; break;
                case "--precision":
                    precision = args[++i] == "bf16" ? CpuPrecision.Bf16 : CpuPrecision.F32;
                    break;
                default:
                    Console.Error.WriteLine($"cpu-weights: unknown option {args[i]}");
                    return 2;
            }
        }
        repeats = Math.Max(repeats, 1);
        long tensorBytes = (long)Rows * Cols * 2;
        int count = Math.Max(1, (int)Math.Round(gib * (1L << 30) / tensorBytes));
        string folder = dir ?? Path.Combine(Path.GetTempPath(), "med2e3-cpu-weights-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "pytorch_model.bin");
        try
        {
            var rng = new Random(7);
            var values = new float[Rows * Cols];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 0.2 - 0.1);
            ReadOnlyMemory<byte> bf16 = WeightTensor.FromFloat32("w", [Rows, Cols], values, StorageDType.BF16).Data;
            TorchCheckpointWriter.Write(path, Enumerable.Range(0, count)
                .Select(i => new WeightTensor($"layers.{i}.mlp.gate_up_proj.weight", StorageDType.BF16, [Rows, Cols], bf16)));
            long fileBytes = new FileInfo(path).Length;
            Console.WriteLine($"cpu-weights: {path}: {count} bf16 [{Rows}, {Cols}] weights, {fileBytes / 1e9:0.000} GB; " +
                              $"precision {precision}; {Environment.ProcessorCount} logical CPUs; load average {LoadAverage()}");

            Pass(path, precision, out _);    // warms the page cache and the JIT
            var runs = new List<Times>();
            for (int r = 0; r < repeats; r++)
            {
                Pass(path, precision, out Times t);
                runs.Add(t);
            }
            double Median(Func<Times, double> f) => runs.Select(f).Order().ElementAt(runs.Count / 2);
            double open = Median(t => t.Open), read = Median(t => t.Read), prepare = Median(t => t.Prepare),
                crc = Median(t => t.Crc);
            double total = open + read + prepare;
            double gb = count * tensorBytes / 1e9;
            Console.WriteLine($"{"step",-28} {"median s",9} {"GB/s",8} {"share",7}");
            void Row(string what, double s) => Console.WriteLine($"{what,-28} {s,9:0.000} {gb / s,8:0.00} {s / total,7:P1}");
            Row("open (directory + pickle)", open);
            Row("read (incl. CRC-32 check)", read);
            Row("prepare (PreparedLinear)", prepare);
            Row("load total", total);
            Row("CRC-32 alone (in memory)", crc);
            Console.WriteLine($"CRC-32 / load total = {crc / total:P1} (budget < 10 %); median of {repeats} runs; " +
                              $"load average after {LoadAverage()}");
            if (json is not null)
            {
                File.WriteAllText(json, JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["suite"] = "cpu-weights", ["file_bytes"] = fileBytes, ["tensors"] = count,
                    ["precision"] = precision.ToString(), ["repeats"] = repeats, ["cpus"] = Environment.ProcessorCount,
                    ["load_average"] = LoadAverage(), ["open_s"] = open, ["read_s"] = read, ["prepare_s"] = prepare,
                    ["total_s"] = total, ["crc_s"] = crc, ["crc_share"] = crc / total, ["read_gb_s"] = gb / read,
                    ["crc_gb_s"] = gb / crc,
                }, new JsonSerializerOptions { WriteIndented = true }));
            }
            return 0;
        }
        finally
        {
            if (dir is null) Directory.Delete(folder, recursive: true);
        }
    }

    private readonly record struct Times(double Open, double Read, double Prepare, double Crc);

    private static void Pass(string path, CpuPrecision precision, out Times times)
    {
        var clock = Stopwatch.StartNew();
        StateDict sd = WeightFiles.Read(path);
        double open = clock.Elapsed.TotalSeconds, read = 0, prepare = 0, crc = 0;
        foreach (WeightTensor w in sd.Tensors)
        {
            clock.Restart();
            ReadOnlyMemory<byte> bytes = w.Data;                    // first read of the entry: CRC-32 check + copy
            read += clock.Elapsed.TotalSeconds;
            clock.Restart();
            using (PreparedLinear.Create(bytes.Span, WeightStorage.Bf16, w.Shape[0], w.Shape[1], precision))
            {
                prepare += clock.Elapsed.TotalSeconds;
            }
            clock.Restart();
            uint h = System.IO.Hashing.Crc32.HashToUInt32(bytes.Span);
            crc += clock.Elapsed.TotalSeconds;
            GC.KeepAlive(h);
            w.ReleaseCache();
        }
        times = new Times(open, read, prepare, crc);
    }

    private static string LoadAverage()
    {
        try
        {
            return RuntimeInformation.IsOSPlatform(OSPlatform.Linux)
                ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3))
                : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
