using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>One measured stage: the median and every timed repetition, in seconds (per token for decode).</summary>
public sealed record StageResult(string Stage, string Precision, string Impl, double Median, double[] Times, string Unit,
    string Detail, int? Tokens = null)
{
    /// <summary>The process's peak RSS (VmHWM, GB) when the stage finished: which stage raised the peak.</summary>
    public double? HwmGB { get; init; }
}

/// <summary>What one child process measured: its stages, load and memory figures.</summary>
public sealed record ChildReport(string Impl, string Precision, int Threads, List<StageResult> Stages,
    double? RssAfterLoadGB, double? PeakRssGB, string? Error)
{
    /// <summary>PyTorch: the BLAS and oneDNN libraries the process mapped (f32 matmul speed depends on them).</summary>
    public string[]? Blas { get; init; }
}

/// <summary>
/// The child process of <c>med2e3-bench cpu-model</c> for one precision: loads the checkpoint with
/// <see cref="Med2E3LoadOptions.Precision"/> and times each stage through the model's public components, with seeded
/// random non-zero inputs at the geometry's shapes. The report file is rewritten after every stage, so a stage that
/// dies (out of memory, timeout) leaves the earlier ones recorded.
/// </summary>
public static class CpuModelStages
{
    /// <summary>Stages in the order they run.</summary>
    public static readonly string[] All = ["load", "vit", "siglip", "bert", "connectors", "prefill", "decode", "e2e"];

    /// <summary>Stages whose single run takes long at the released geometry: timed <c>--long-reps</c> times, no warm-up.</summary>
    public static readonly HashSet<string> Long = ["siglip", "prefill", "e2e"];

    /// <summary>Runs the child: <c>--child --ckpt DIR --precision f32|bf16 --stages a,b --reps N --long-reps N --out FILE</c>.</summary>
    public static int RunChild(CpuModelOptions o)
    {
        var report = new ChildReport("ours", o.Precisions[0], o.Threads, [], null, null, null);
        void Save() => File.WriteAllText(o.ChildOut!, JsonSerializer.Serialize(report, CpuModelBenchmark.Json));
        try
        {
            Gemm.MaxThreads = o.Threads;
            var g = JsonSerializer.Deserialize<ModelGeometry>(File.ReadAllText(Path.Combine(o.Checkpoint!, "geometry.json")))!;
            CpuPrecision precision = o.Precisions[0] == "bf16" ? CpuPrecision.Bf16 : CpuPrecision.F32;
            var clock = Stopwatch.StartNew();
            using var model = Med2E3Model.Load(o.Checkpoint!, "cpu", new Med2E3LoadOptions { Precision = precision });
            double load = clock.Elapsed.TotalSeconds;
            report = report with { RssAfterLoadGB = MemoryGB("VmRSS") };
            if (o.Stages.Contains("load"))
            {
                report.Stages.Add(new StageResult("load", o.Precisions[0], "ours", load, [load], "s",
                    $"Med2E3Model.Load, page cache warm, {model.Parameters.ElementCount / 1e9:F3} B parameters") { HwmGB = MemoryGB("VmHWM") });
            }
            Save();
            using var noGrad = new NoGradScope();
            foreach (string stage in All.Where(s => s != "load" && o.Stages.Contains(s)))
            {
                Console.WriteLine($"  ours {o.Precisions[0]} {stage} …");
                report.Stages.Add(Run(stage, model, g, o) with { HwmGB = MemoryGB("VmHWM") });
                report = report with { PeakRssGB = MemoryGB("VmHWM") };
                Save();
            }
            report = report with { PeakRssGB = MemoryGB("VmHWM") };
            Save();
            return 0;
        }
        catch (Exception e)
        {
            report = report with { PeakRssGB = MemoryGB("VmHWM"), Error = $"{e.GetType().Name}: {e.Message}" };
            Save();
            Console.Error.WriteLine($"cpu-model child: {e}");
            return 1;
        }
    }

    private static StageResult Run(string stage, Med2E3Model m, ModelGeometry g, CpuModelOptions o)
    {
        string p = o.Precisions[0];
        int reps = Long.Contains(stage) ? o.LongReps : o.Reps;
        bool warm = !Long.Contains(stage) || o.WarmupLong;
        int[] img = g.ImgSize;
        switch (stage)
        {
            case "vit":
            {
                using var vol = Tensor.Rand(11, [1, 1, img[0], img[1], img[2]], 0.01, 1);
                var t = Time(reps, warm, () => m.Vision3D.Forward(vol).Dispose());
                return new StageResult(stage, p, "ours", Median(t), t, "s", $"ViT3D.Forward (1, 1, {string.Join(", ", img)})");
            }
            case "siglip":
            {
                using var slices = Tensor.Rand(12, [img[0], 1, img[1], img[2]], 0.01, 1);
                var t = Time(reps, warm, () => m.Vision2D.Forward(slices).Dispose());
                return new StageResult(stage, p, "ours", Median(t), t, "s", $"SigLip.Forward ({img[0]}, 1, {img[1]}, {img[2]})");
            }
            case "bert":
            {
                var (ids, mask) = m.QuestionInputs(CpuModelBenchmark.Question);
                int real = (int)mask.Sum();
                var t = Time(reps, warm, () => m.TextEncoder.Forward(ids, mask, 1, m.Device).Dispose());
                return new StageResult(stage, p, "ours", Median(t), t, "s", $"BertEncoder.Forward, {real} real tokens of {ids.Length}", real);
            }
            case "connectors":
            {
                using var f3 = Tensor.Randn(13, [1, g.Patches3D, g.V3Hidden]);
                using var f2 = Tensor.Randn(14, [g.Slices, g.SigLipTokens, g.V2Hidden]);
                using var text = Tensor.Randn(15, [1, g.BertHidden]);
                var t = Time(reps, warm, () =>
                {
                    using var scope = TensorScope.Begin();
                    var z2flat = m.Vision2DConnector.Forward(f2);
                    var z2 = z2flat.Reshape(1, g.Slices, z2flat.Dim(1), z2flat.Dim(2));
                    var (z3, scores) = m.Vision3DConnector.Forward(f3, z2, text);
                    var z2f = Vision3DConnector.Fuse(z2, scores);
                    _ = F.Concat(1, z3, z2f);
                });
                return new StageResult(stage, p, "ours", Median(t), t, "s",
                    "Vision2DConnector + Vision3DConnector (pooling, MLP, TG-IS) + Fuse + concat");
            }
            case "prefill":
            {
                using var embeds = Tensor.Randn(16, [1, g.PrefillTokens, g.LlmHidden], std: 0.02);
                var t = Time(reps, warm, () =>
                {
                    using var cache = m.Llm.CreateCache(1, g.PrefillTokens, m.DType, m.Device);
                    m.Llm.Prefill(embeds, cache).Dispose();
                });
                return new StageResult(stage, p, "ours", Median(t), t, "s", $"Phi3.Prefill of {g.PrefillTokens} tokens");
            }
            case "decode":
            {
                int steps = Math.Min(o.DecodeSteps, g.DecodeContext - 1);
                int start = g.DecodeContext - steps;
                using var embeds = Tensor.Randn(17, [1, start, g.LlmHidden], std: 0.02);
                using var cache = m.Llm.CreateCache(1, g.DecodeContext, m.DType, m.Device);
                m.Llm.Prefill(embeds, cache).Dispose();
                var rng = new Random(18);
                var t = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    using var id = Tensor.FromArray(new long[] { rng.Next(g.LlmVocab) }, 1);
                    var sw = Stopwatch.StartNew();
                    m.Llm.DecodeStep(id, cache).Dispose();
                    t[i] = sw.Elapsed.TotalSeconds;
                }
                return new StageResult(stage, p, "ours", Median(t), t, "s/token",
                    $"Phi3.DecodeStep × {steps} after a prefill of {start}: context {start + 1} … {g.DecodeContext}", start);
            }
            case "e2e":
            {
                using var vol = Tensor.Rand(19, [1, 1, img[0], img[1], img[2]], 0.01, 1);
                GenerationResult? last = null;
                var t = Time(reps, warm: false, () => last = m.Generate(vol, CpuModelBenchmark.Question,
                    new GenerationOptions { MaxNewTokens = o.E2eTokens, StopTokenIds = [] }));
                var tm = last!.Timings;
                return new StageResult(stage, p, "ours", Median(t), t, "s",
                    string.Create(CultureInfo.InvariantCulture, $"Med2E3Model.Generate, prompt {last.PromptLength} tokens, {last.TokenIds.Length} greedy tokens "
                    + $"(vision {tm.Vision.TotalSeconds:F2} s, prefill {tm.Prefill.TotalSeconds:F2} s, decode {tm.Decode.TotalSeconds:F2} s)"),
                    last.PromptLength);
            }
            default:
                throw new ArgumentException($"unknown stage '{stage}'");
        }
    }

    /// <summary>One untimed warm-up when <paramref name="warm"/>, then <paramref name="reps"/> timed runs (seconds).</summary>
    private static double[] Time(int reps, bool warm, Action work)
    {
        if (warm)
        {
            work();
        }
        var t = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            work();
            t[i] = sw.Elapsed.TotalSeconds;
        }
        return t;
    }

    /// <summary>The median of <paramref name="values"/> (not modified).</summary>
    public static double Median(double[] values) => Bench.Median((double[])values.Clone());

    /// <summary>A /proc/self/status memory field (VmRSS, VmHWM) in GB, null where there is no /proc.</summary>
    public static double? MemoryGB(string field)
    {
        try
        {
            string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            if (line is null)
            {
                return null;
            }
            long kb = long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            return kb * 1024 / 1e9;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
