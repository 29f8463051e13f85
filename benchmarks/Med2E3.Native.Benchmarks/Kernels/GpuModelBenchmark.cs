using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Benchmarks.Cpu;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Kernels;

/// <summary>Options of <c>med2e3-bench gpu-model</c>.</summary>
public sealed record GpuModelOptions
{
    /// <summary>The tiny geometry (<see cref="ModelGeometry.Quick"/>) instead of the released one.</summary>
    public bool Quick { get; init; }

    /// <summary>Where the synthetic checkpoint is cached (shared with cpu-model).</summary>
    public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "med2e3-bench");

    /// <summary>Timed runs per stage after one warm-up (decode: timed tokens).</summary>
    public int Runs { get; init; } = 10;

    /// <summary>Timed end-to-end runs (no warm-up beyond the stages before it); 1 with --quick unless given.</summary>
    public int E2eRuns { get; init; } = 3;

    /// <summary>--e2e-runs was given.</summary>
    public bool E2eRunsGiven { get; init; }

    /// <summary>Greedy tokens of the end-to-end run.</summary>
    public int E2eTokens { get; init; } = 100;

    /// <summary>Seed of the synthetic checkpoint.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The stages to run, of <see cref="GpuModelBenchmark.Stages"/>.</summary>
    public string[] Stages { get; init; } = GpuModelBenchmark.Stages;

    /// <summary>Where the JSON goes (none when null).</summary>
    public string? JsonPath { get; init; }

    /// <summary>Where the markdown table goes (none when null).</summary>
    public string? MarkdownPath { get; init; }

    /// <summary>Only write the synthetic checkpoint under <see cref="Work"/> (no device needed), then exit.</summary>
    public bool PrepareOnly { get; init; }

    /// <summary>--help was given.</summary>
    public bool Help { get; init; }

    /// <summary>A one-line parse error, or null.</summary>
    public string? Error { get; init; }

    /// <summary>Parses the arguments after <c>gpu-model</c>.</summary>
    public static GpuModelOptions Parse(string[] args)
    {
        var o = new GpuModelOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            int? Int(int min)
            {
                string? s = Next();
                return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v : null;
            }
            switch (a)
            {
                case "-h" or "--help":
                    o = o with { Help = true };
                    break;
                case "--quick":
                    o = o with { Quick = true };
                    break;
                case "--prepare-only":
                    o = o with { PrepareOnly = true };
                    break;
                case "--work":
                    o = Next() is { } w ? o with { Work = w } : o with { Error = "--work needs a folder" };
                    break;
                case "--runs":
                    o = Int(1) is { } r ? o with { Runs = r } : o with { Error = "--runs needs a count ≥ 1" };
                    break;
                case "--e2e-runs":
                    o = Int(1) is { } e ? o with { E2eRuns = e, E2eRunsGiven = true } : o with { Error = "--e2e-runs needs a count ≥ 1" };
                    break;
                case "--seed":
                    o = Int(0) is { } s ? o with { Seed = s } : o with { Error = "--seed needs an integer ≥ 0" };
                    break;
                case "--json":
                    o = Next() is { } j ? o with { JsonPath = j } : o with { Error = "--json needs a file" };
                    break;
                case "--markdown":
                    o = Next() is { } m ? o with { MarkdownPath = m } : o with { Error = "--markdown needs a file" };
                    break;
                case "--stages":
                {
                    string[] stages = (Next() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    string? bad = stages.FirstOrDefault(s => !GpuModelBenchmark.Stages.Contains(s));
                    o = stages.Length == 0 || bad is not null
                        ? o with { Error = $"--stages takes a comma list of {string.Join(",", GpuModelBenchmark.Stages)}" + (bad is null ? "" : $" (not '{bad}')") }
                        : o with { Stages = stages };
                    break;
                }
                default:
                    o = o with { Error = $"unknown argument '{a}'" };
                    break;
            }
            if (o.Error is not null) break;
        }
        return o;
    }
}

/// <summary>
/// <c>med2e3-bench gpu-model [--quick] [--work DIR] [--runs N] [--e2e-runs N] [--json FILE] [--markdown FILE]
/// [--stages …]</c>: the whole model on the CUDA device (bf16, the CUDA default) from the seeded synthetic checkpoint
/// of <c>cpu-model</c> at the released geometry (no download), stage by stage through the public API: the encode
/// (<see cref="Med2E3Model.EncodeVision"/>: 3D ViT, SigLIP over the slices, BERT, connectors, TG-IS) and its three
/// encoders alone, the Phi-3 prefill of 572 tokens, decode per token at context ~600, and end to end
/// (<see cref="Med2E3Model.Generate(Tensor, string, GenerationOptions?)"/>, 100 greedy tokens). Each stage is the
/// median of the runs after one warm-up, timed with CUDA events on the backend's stream around the call (the
/// end-to-end run with the wall clock: Generate reads every token back, so the stream is synchronised), on seeded
/// random non-zero inputs. Floors from the geometry: the stage's FLOPs over the bf16 GEMM ceiling measured in the same
/// run (<c>cublasGemmEx</c> bf16 8192³), the decode's bytes (weights + KV cache) over the device copy bandwidth
/// measured in the same run. The anchor is the PyTorch reference on an H100 (PERFORMANCE.md); the targets are the
/// issue's. Peak GPU memory is the pool's peak in use (the driver's used memory is given beside it).
/// <c>--prepare-only</c> writes the checkpoint and exits (no device needed: the device check runs it beside the tests).
/// No CUDA device or no NVRTC: one line and exit code 0.
/// </summary>
public static class GpuModelBenchmark
{
    /// <summary>The stages, in the order they run.</summary>
    public static readonly string[] Stages = ["encode", "vit", "siglip", "bert", "prefill", "decode", "e2e"];

    /// <summary>The PyTorch reference on an H100 (ms; e2e in s) and the targets for the same stages.</summary>
    private static readonly Dictionary<string, (double Reference, double Target)> Anchors = new()
    {
        ["encode"] = (26.0, 11),
        ["prefill"] = (30.3, 9),
        ["decode"] = (31.4, 3.2),
        ["e2e"] = (3.72, 0.36),
    };

    /// <summary>One row of the table and of the JSON.</summary>
    /// <remarks>
    /// Times in <see cref="Unit"/> (s, or s/token for the decode); <see cref="FloorMs"/> in ms; the reference and the
    /// target in ms, the end-to-end ones in s. <see cref="Flops"/> is the useful work of a compute stage,
    /// <see cref="Bytes"/> what one decode step must read; the end-to-end floor adds both kinds.
    /// </remarks>
    public sealed record Row(string Stage, string Shape, string Timing, double Median, double Min, string Unit,
        int Runs, double? Flops, double? Bytes, double? Tflops, double? GBps, double? FloorMs, double? FractionOfFloor,
        double? ReferenceH100, double? ReferenceOverThis, double? TargetH100, double PoolPeakGiB);

    /// <summary>The command: opens device 0, registers the CUDA backend and runs the benchmark on it.</summary>
    /// <param name="args">The arguments after <c>gpu-model</c>.</param>
    public static int Run(string[] args)
    {
        var o = GpuModelOptions.Parse(args);
        if (o.Help)
        {
            Console.WriteLine("usage: med2e3-bench gpu-model [--quick] [--work DIR] [--runs N] [--e2e-runs N] [--seed S] [--prepare-only] "
                + $"[--json FILE] [--markdown FILE] [--stages {string.Join(",", Stages)}]");
            return 0;
        }
        if (o.Error is not null)
        {
            Console.Error.WriteLine($"med2e3-bench gpu-model: {o.Error}");
            return 2;
        }
        if (o.PrepareOnly)
        {
            SyntheticModel.Ensure(o.Work, o.Quick ? ModelGeometry.Quick : ModelGeometry.Released, o.Seed, Console.Out);
            return 0;
        }
        if (!CudaRuntime.IsAvailable || !NvrtcRuntime.IsAvailable)
        {
            string reason = CudaRuntime.IsAvailable ? $"no NVRTC ({NvrtcRuntime.UnavailableReason})"
                : $"no CUDA device ({CudaRuntime.UnavailableReason})";
            Console.WriteLine($"med2e3-bench: {reason}; nothing to measure on this machine.");
            return 0;
        }
        using CudaDevice device = CudaDevice.Open(0);
        return Run(CudaBackend.Register(device), o, Console.Out);
    }

    /// <summary>Loads the synthetic model on <paramref name="backend"/> and times the stages; returns the exit code.</summary>
    /// <param name="backend">The registered CUDA backend the model loads on.</param>
    /// <param name="o">The options.</param>
    /// <param name="output">Where the progress lines and the table go.</param>
    public static int Run(CudaBackend backend, GpuModelOptions o, TextWriter output)
    {
        CudaDevice device = backend.Device;
        ModelGeometry g = o.Quick ? ModelGeometry.Quick : ModelGeometry.Released;
        string ckpt = SyntheticModel.Ensure(o.Work, g, o.Seed, output);
        string? emulated = CudaRuntime.EmulatorDescription;
        double? datasheet = AttentionBenchmark.DenseBf16PeakTflops(device.Name);
        output.WriteLine($"{device.Name} ({device.Arch}, {device.SmCount} SMs), driver CUDA "
            + $"{CudaRuntime.FormatVersion(CudaRuntime.DriverVersion)}, NVRTC {NvrtcRuntime.Version}");
        output.WriteLine(g.Describe());
        output.WriteLine($"median of {o.Runs} runs after one warm-up (end to end: {E2eRuns(o)} runs)");
        if (emulated is not null)
            output.WriteLine($"emulated device ({emulated}): the times are CPU times, not a GPU's");

        var clock = Stopwatch.StartNew();
        using var model = Med2E3Model.Load(ckpt, backend.TensorDevice);
        double loadS = clock.Elapsed.TotalSeconds;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loaded {model.Parameters.ElementCount / 1e9:F3} B parameters as {model.DType} in {loadS:F1} s; "
            + $"pool {GiB(device.Pool.Stats.PeakInUseBytes):F2} GiB"));
        output.WriteLine();

        var rows = new List<Row>();
        int gemmSize = o.Quick ? 512 : 8192;
        double? poolPeak = null, driverUsed = null, copy = null, gemm = null;
        // Rewritten after every stage, so a step that runs out of time leaves the stages it finished.
        void Save(bool complete)
        {
            if (o.JsonPath is null) return;
            double? Value(string stage, double scale) => rows.FirstOrDefault(r => r.Stage == stage) is { } r ? r.Median * scale : null;
            var doc = new Dictionary<string, object?>
            {
                ["gpu"] = device.Name,
                ["encode_ms"] = Value("encode", 1e3),
                ["prefill_ms"] = Value("prefill", 1e3),
                ["decode_ms_per_token"] = Value("decode", 1e3),
                ["e2e_100_tokens_s"] = Value("e2e", 1),
                ["peak_gpu_mem_gib"] = poolPeak ?? GiB(device.Pool.Stats.PeakInUseBytes),
                ["complete"] = complete,
                ["driver_used_gib"] = driverUsed,
                ["arch"] = device.Arch,
                ["emulated"] = emulated,
                ["geometry"] = g.Describe(),
                ["quick"] = o.Quick,
                ["runs"] = o.Runs,
                ["e2e_runs"] = E2eRuns(o),
                ["gemm_size"] = gemmSize,
                ["load_s"] = loadS,
                ["copy_gbps"] = copy,
                ["gemm_bf16_tflops"] = gemm,
                ["datasheet_bf16_tflops"] = datasheet,
                ["reference"] = new Dictionary<string, object>
                {
                    ["source"] = "PyTorch reference on an H100 (PERFORMANCE.md)",
                    ["encode_ms"] = Anchors["encode"].Reference,
                    ["prefill_ms"] = Anchors["prefill"].Reference,
                    ["decode_ms_per_token"] = Anchors["decode"].Reference,
                    ["e2e_100_tokens_s"] = Anchors["e2e"].Reference,
                },
                ["rows"] = rows,
            };
            File.WriteAllText(o.JsonPath, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        }

        using (new NoGradScope())
        {
            foreach (string stage in Stages.Where(o.Stages.Contains))
            {
                output.WriteLine($"  {stage} …");
                Row row = Measure(stage, model, g, o, device);
                rows.Add(row);
                Save(complete: false);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {row.Stage,-8} {row.Median:F4} {row.Unit} (min {row.Min:F4}, {row.Runs} runs)"));
            }
        }

        // The peak is read before the ceilings rent their buffers, so it is the model's alone.
        var (free, total) = device.GetMemoryInfo();
        poolPeak = GiB(device.Pool.Stats.PeakInUseBytes);
        driverUsed = GiB(total - free);
        var bench = new Bench(device, BenchOptions.Parse(["--runs", o.Runs.ToString(CultureInfo.InvariantCulture)]));
        copy = CopyCeiling(bench, o.Quick);
        gemm = GemmCeiling(bench, gemmSize);
        double? ceiling = gemm ?? datasheet;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ceilings (measured in this run): copy {copy:F0} GB/s, cublasGemmEx bf16 {gemmSize}³ "
            + $"{(gemm is { } gm ? $"{gm:F2} TFLOP/s" : "n/a (no cuBLAS): the datasheet peak instead")}; datasheet bf16 peak "
            + $"{(datasheet is { } pk ? $"{pk:F0} TFLOP/s" : "unknown for this card")}"));
        rows = [.. rows.Select(r => WithFloor(r, copy.Value, ceiling))];
        string table = Table(device, g, rows, copy.Value, gemm, emulated, poolPeak.Value, driverUsed.Value);
        output.WriteLine();
        output.Write(table);
        if (o.MarkdownPath is not null) File.WriteAllText(o.MarkdownPath, table);
        Save(complete: true);
        if (o.JsonPath is not null) output.WriteLine($"wrote {o.JsonPath}");
        return 0;
    }

    /// <summary>End-to-end runs: <see cref="GpuModelOptions.E2eRuns"/>, one with --quick unless given (the emulator's budget).</summary>
    private static int E2eRuns(GpuModelOptions o) => o.E2eRunsGiven || !o.Quick ? o.E2eRuns : 1;

    /// <summary>The row with its floor (FLOPs over the GEMM ceiling plus bytes over the copy bandwidth) and the fraction of it.</summary>
    private static Row WithFloor(Row r, double copyGBps, double? ceilingTflops)
    {
        double floorS = (r.Flops is { } f ? f / ((ceilingTflops ?? double.NaN) * 1e12) : 0)
            + (r.Bytes is { } b ? b / (copyGBps * 1e9) : 0);
        return double.IsFinite(floorS) && floorS > 0 ? r with { FloorMs = floorS * 1e3, FractionOfFloor = floorS / r.Median } : r;
    }

    private static Row Measure(string stage, Med2E3Model m, ModelGeometry g, GpuModelOptions o, CudaDevice device)
    {
        int[] img = g.ImgSize;
        var d = m.Device;
        var (ids, mask) = m.QuestionInputs(CpuModelBenchmark.Question);
        int real = (int)mask.Sum();
        const string events = "CUDA events";
        switch (stage)
        {
            case "encode":
            {
                using var vol = Tensor.Rand(11, [1, 1, img[0], img[1], img[2]], 0.01, 1, DType.F32, d);
                var t = Events(device, o.Runs, () => m.EncodeVision(vol, ids, mask).Dispose());
                double flops = Vit(g) + SigLip(g) + Bert(g, real);
                return Compute(stage, $"volume 1×{string.Join("×", img)}, {real} question tokens", t, flops, device, o.Quick);
            }
            case "vit":
            {
                using var vol = Tensor.Rand(12, [1, 1, img[0], img[1], img[2]], 0.01, 1, DType.F32, d);
                using var cast = vol.To(m.DType);
                var t = Events(device, o.Runs, () => m.Vision3D.Forward(cast).Dispose());
                return Compute(stage, $"{g.Patches3D + 1} tokens × {g.V3Hidden}, {g.V3Layers} layers", t, Vit(g), device, o.Quick);
            }
            case "siglip":
            {
                using var slices = Tensor.Rand(13, [g.Slices, 1, img[1], img[2]], 0.01, 1, DType.F32, d);
                using var cast = slices.To(m.DType);
                var t = Events(device, o.Runs, () => m.Vision2D.Forward(cast).Dispose());
                return Compute(stage, $"{g.Slices} slices × {g.SigLipTokens} tokens × {g.V2Hidden}, {g.V2Layers} layers", t,
                    SigLip(g), device, o.Quick);
            }
            case "bert":
            {
                var t = Events(device, o.Runs, () => m.TextEncoder.Forward(ids, mask, 1, d).Dispose());
                return Compute(stage, $"{real} real tokens of {ids.Length}", t, Bert(g, real), device, o.Quick);
            }
            case "prefill":
            {
                using var embeds = Tensor.Randn(14, [1, g.PrefillTokens, g.LlmHidden], DType.F32, d, std: 0.02);
                using var cast = embeds.To(m.DType);
                var t = Events(device, o.Runs, () =>
                {
                    using var cache = m.Llm.CreateCache(1, g.PrefillTokens, m.DType, d);
                    m.Llm.Prefill(cast, cache).Dispose();
                });
                return Compute(stage, $"{g.PrefillTokens} tokens", t, Prefill(g), device, o.Quick);
            }
            case "decode":
            {
                int steps = Math.Min(o.Runs, g.DecodeContext - 2);
                int start = g.DecodeContext - steps - 1;
                using var embeds = Tensor.Randn(15, [1, start, g.LlmHidden], DType.F32, d, std: 0.02);
                using var cast = embeds.To(m.DType);
                using var cache = m.Llm.CreateCache(1, g.DecodeContext, m.DType, d);
                m.Llm.Prefill(cast, cache).Dispose();
                var rng = new Random(16);
                using CudaEvent begin = device.CreateEvent();
                using CudaEvent end = device.CreateEvent();
                var t = new double[steps];
                for (int i = -1; i < steps; i++)            // step −1 is the warm-up
                {
                    using var host = Tensor.FromArray(new long[] { rng.Next(g.LlmVocab) }, 1);
                    using var id = host.To(d);                 // uploaded before the timed step
                    begin.Record(device.Stream);
                    m.Llm.DecodeStep(id, cache).Dispose();
                    end.Record(device.Stream);
                    end.Synchronize();
                    if (i >= 0) t[i] = CudaEvent.ElapsedMilliseconds(begin, end) / 1e3;
                }
                double median = CpuModelStages.Median(t);
                double bytes = DecodeBytes(g, g.DecodeContext - steps / 2);
                var (reference, target) = Anchors[stage];
                return new Row(stage, $"context {start + 1}…{g.DecodeContext}, {bytes / 1e9:F3} GB per token", events,
                    median, t.Min(), "s/token", steps, null, bytes, null, bytes / median / 1e9, null, null,
                    o.Quick ? null : reference, o.Quick ? null : reference / (median * 1e3), target,
                    GiB(device.Pool.Stats.PeakInUseBytes));
            }
            case "e2e":
            {
                using var vol = Tensor.Rand(17, [1, 1, img[0], img[1], img[2]], 0.01, 1);
                GenerationResult? last = null;
                var t = new double[E2eRuns(o)];
                for (int i = 0; i < t.Length; i++)
                {
                    var sw = Stopwatch.StartNew();
                    last = m.Generate(vol, CpuModelBenchmark.Question, new GenerationOptions { MaxNewTokens = o.E2eTokens, StopTokenIds = [] });
                    device.Stream.Synchronize();
                    t[i] = sw.Elapsed.TotalSeconds;
                }
                double median = CpuModelStages.Median(t);
                int tokens = last!.TokenIds.Length;
                double flops = Vit(g) + SigLip(g) + Bert(g, real) + Prefill(g, last.PromptLength);
                double bytes = tokens * DecodeBytes(g, last.PromptLength + tokens / 2);
                var (reference, target) = Anchors[stage];
                return new Row(stage, $"prompt {last.PromptLength} tokens + {tokens} greedy tokens", "wall clock, stream synchronised",
                    median, t.Min(), "s", t.Length, flops, bytes, null, null, null, null,
                    o.Quick ? null : reference, o.Quick ? null : reference / median, target, GiB(device.Pool.Stats.PeakInUseBytes));
            }
            default:
                throw new ArgumentException($"GpuModelBenchmark.cs: unknown stage '{stage}'");
        }
    }

    private static Row Compute(string stage, string shape, double[] t, double flops, CudaDevice device, bool quick)
    {
        double median = CpuModelStages.Median(t);
        double tflops = flops / median / 1e12;
        bool anchored = Anchors.TryGetValue(stage, out var a);
        return new Row(stage, $"{shape}, {flops / 1e9:F3} GFLOP", "CUDA events", median, t.Min(), "s", t.Length, flops, null,
            tflops, null, null, null, anchored && !quick ? a.Reference : null, anchored && !quick ? a.Reference / (median * 1e3) : null,
            anchored ? a.Target : null, GiB(device.Pool.Stats.PeakInUseBytes));
    }

    /// <summary>One warm-up, then <paramref name="runs"/> runs each between two CUDA events on the device stream (seconds).</summary>
    private static double[] Events(CudaDevice device, int runs, Action work)
    {
        work();
        device.Stream.Synchronize();
        using CudaEvent start = device.CreateEvent();
        using CudaEvent end = device.CreateEvent();
        var t = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            start.Record(device.Stream);
            work();
            end.Record(device.Stream);
            end.Synchronize();
            t[i] = CudaEvent.ElapsedMilliseconds(start, end) / 1e3;
        }
        return t;
    }

    // FLOPs (multiply-add = 2) of the matrix products and attention of each encoder; norms, activations and softmax left out.
    private static double Layer(double tokens, double hidden, double mlp) => 2 * tokens * (4 * hidden * hidden + 2 * hidden * mlp)
        + 4 * tokens * tokens * hidden;

    private static double Vit(ModelGeometry g) => 2.0 * g.Patches3D * g.PatchVector * g.V3Hidden
        + g.V3Layers * Layer(g.Patches3D + 1, g.V3Hidden, g.V3Mlp);

    private static double SigLip(ModelGeometry g) => g.Slices * (2.0 * g.SigLipTokens * g.V2Patch * g.V2Patch * g.V2Hidden
        + g.V2Layers * Layer(g.SigLipTokens, g.V2Hidden, g.V2Intermediate));

    private static double Bert(ModelGeometry g, int tokens) => g.BertLayers * Layer(tokens, g.BertHidden, g.BertIntermediate);

    /// <summary>Phi-3 prefill: QKV + O (4H²), gate/up + down (3HI), causal attention (half of 4T²H), lm_head on the last row.</summary>
    private static double Prefill(ModelGeometry g, int? tokens = null)
    {
        double t = tokens ?? g.PrefillTokens, h = g.LlmHidden;
        return g.LlmLayers * (2 * t * (4 * h * h + 3 * h * g.LlmIntermediate) + 2 * t * t * h) + 2 * h * g.LlmVocab;
    }

    /// <summary>Bytes one decode step must read: the bf16 decoder weights, lm_head, and K and V of every layer at <paramref name="context"/>.</summary>
    private static double DecodeBytes(ModelGeometry g, int context)
    {
        double h = g.LlmHidden;
        return 2 * (g.LlmLayers * (4 * h * h + 3 * h * g.LlmIntermediate) + h * g.LlmVocab + 2.0 * g.LlmLayers * context * h);
    }

    private static double GiB(long bytes) => bytes / (double)(1L << 30);

    /// <summary>Device-to-device copy bandwidth (read + write, GB/s), the median of the runs.</summary>
    private static double CopyCeiling(Bench bench, bool quick)
    {
        long n = quick ? 16L << 20 : 256L << 20;
        using DeviceBuffer a = bench.Device.Pool.Rent(n);
        using DeviceBuffer b = bench.Device.Pool.Rent(n);
        bench.Stream.Memset8(a.Pointer, 7, n);
        var t = bench.Time(s => s.CopyDeviceToDevice(a.Pointer, b.Pointer, n));
        return 2.0 * n / (t.MedianUs * 1e-6) / 1e9;
    }

    /// <summary>cublasGemmEx bf16 n³ (x·Wᵀ) in TFLOP/s, the median of the runs; null without cuBLAS.</summary>
    private static double? GemmCeiling(Bench bench, int n)
    {
        if (!CublasRuntime.IsAvailable) return null;
        long bytes = 2L * n * n;
        using DeviceBuffer a = bench.Device.Pool.Rent(bytes);
        using DeviceBuffer b = bench.Device.Pool.Rent(bytes);
        using DeviceBuffer c = bench.Device.Pool.Rent(bytes);
        bench.Stream.Memset8(a.Pointer, 0x3c, bytes);      // bf16 0x3c3c ≈ 0.0115, finite and non-zero
        bench.Stream.Memset8(b.Pointer, 0x3c, bytes);
        Cublas blas = bench.Device.Cublas;
        var t = bench.Time(s => blas.MatMulTransB(s, GemmDataType.BF16, a.Pointer, b.Pointer, c.Pointer, n, n, n));
        return 2.0 * n * n * n / (t.MedianUs * 1e-6) / 1e12;
    }

    private static string Table(CudaDevice device, ModelGeometry g, List<Row> rows, double copy, double? gemm,
        string? emulated, double poolPeak, double driverUsed)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        w.WriteLine($"card: {device.Name} ({device.Arch}){(emulated is null ? "" : $", emulated ({emulated}): CPU times")}; {g.Describe()}");
        string gemmText = gemm is { } gm ? gm.ToString("F1", CultureInfo.InvariantCulture) + " TFLOP/s" : "n/a";
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"floors: FLOPs / cublasGemmEx bf16 ({gemmText}), decode bytes / copy ({copy:F0} GB/s), both measured in this run; "
            + $"reference: PyTorch on an H100 (PERFORMANCE.md), released geometry only"));
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak GPU memory: pool {poolPeak:F2} GiB (driver: {driverUsed:F2} GiB used)"));
        w.WriteLine();
        w.WriteLine("| stage | shape | timing | median ms | min ms | TFLOP/s | GB/s | floor ms | fraction of floor "
            + "| reference ms (H100) | reference / this | target ms (H100) |");
        w.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            const double scale = 1e3;
            double refScale = r.Stage == "e2e" ? 1e3 : 1;
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Stage}{(r.Unit == "s/token" ? " (per token)" : "")} | {r.Shape} | {r.Timing} | {r.Median * scale:F3} | {r.Min * scale:F3} | "
                + $"{Fmt(r.Tflops, "F1")} | {Fmt(r.GBps, "F0")} | {Fmt(r.FloorMs, "F3")} | {Pct(r.FractionOfFloor)} | "
                + $"{Fmt(r.ReferenceH100 * refScale, "F1")} | {Fmt(r.ReferenceOverThis, "F2")} | {Fmt(r.TargetH100 * refScale, "F1")} |"));
        }
        return w.ToString();
    }

    private static string Fmt(double? v, string format) => v is { } x && double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "–";

    private static string Pct(double? v) => v is { } x && double.IsFinite(x) ? (x * 100).ToString("F1", CultureInfo.InvariantCulture) + " %" : "–";
}
