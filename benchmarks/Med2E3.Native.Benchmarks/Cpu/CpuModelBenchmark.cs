using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>Command-line options of <c>med2e3-bench cpu-model</c>.</summary>
public sealed record CpuModelOptions
{
    public string[] Precisions { get; init; } = ["f32", "bf16"];
    public HashSet<string> Stages { get; init; } = [.. CpuModelStages.All.Where(s => s != "e2e")];
    public int Reps { get; init; } = 3;
    public int LongReps { get; init; } = 1;
    public bool WarmupLong { get; init; }
    public int? LlmLayers { get; init; }
    public int? VitLayers { get; init; }
    public int? SiglipLayers { get; init; }
    public int? BertLayers { get; init; }
    public bool Quick { get; init; }
    public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "med2e3-bench");
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public string PyTorch { get; init; } = "auto";
    public string Python { get; init; } = "python3";
    public int DecodeSteps { get; init; } = 12;
    public int E2eTokens { get; init; } = 100;
    public double TimeoutMinutes { get; init; } = 240;
    public string? JsonPath { get; init; }
    public string? MarkdownPath { get; init; }
    public string? ResumePath { get; init; }
    public bool PrepareOnly { get; init; }
    public bool Child { get; init; }
    public string? Checkpoint { get; init; }
    public string? ChildOut { get; init; }

    public const string Usage =
        "usage: med2e3-bench cpu-model [--precision f32,bf16] [--stages load,vit,siglip,bert,connectors,prefill,decode,e2e] [--e2e]\n"
        + "         [--reps N (3)] [--long-reps N (1: siglip, prefill, e2e)] [--warmup-long] [--quick]\n"
        + "         [--llm-layers N] [--vit-layers N] [--siglip-layers N] [--bert-layers N] [--seed N] [--work DIR]\n"
        + "         [--threads N] [--decode-steps N (12)] [--e2e-tokens N (100)] [--timeout-min M (240, per process)]\n"
        + "         [--pytorch auto|off] [--python PATH] [--json FILE] [--markdown FILE] [--resume FILE.json]\n"
        + "         [--prepare-only (write the checkpoint and stop)]";

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with a one-line message.</summary>
    public static CpuModelOptions Parse(string[] args)
    {
        var o = new CpuModelOptions();
        bool e2e = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"cpu-model: {a} needs a value");
            int Int(int min)
            {
                string v = Next();
                return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min ? n
                    : throw new ArgumentException($"cpu-model: {a} expects a whole number ≥ {min}, got '{v}'");
            }
            o = a switch
            {
                "--precision" => o with { Precisions = List(Next(), ["f32", "bf16"], a) },
                "--stages" => o with { Stages = [.. List(Next(), CpuModelStages.All, a)] },
                "--e2e" => Set(ref e2e, o),
                "--reps" => o with { Reps = Int(1) },
                "--long-reps" => o with { LongReps = Int(1) },
                "--warmup-long" => o with { WarmupLong = true },
                "--llm-layers" => o with { LlmLayers = Int(1) },
                "--vit-layers" => o with { VitLayers = Int(1) },
                "--siglip-layers" => o with { SiglipLayers = Int(1) },
                "--bert-layers" => o with { BertLayers = Int(1) },
                "--quick" => o with { Quick = true },
                "--work" => o with { Work = Next() },
                "--seed" => o with { Seed = Int(0) },
                "--threads" => o with { Threads = Int(1) },
                "--pytorch" => o with { PyTorch = Next() is "auto" or "off" ? args[i] : throw new ArgumentException("cpu-model: --pytorch expects auto or off") },
                "--python" => o with { Python = Next() },
                "--decode-steps" => o with { DecodeSteps = Int(1) },
                "--e2e-tokens" => o with { E2eTokens = Int(1) },
                "--timeout-min" => o with { TimeoutMinutes = Int(1) },
                "--json" => o with { JsonPath = Next() },
                "--markdown" => o with { MarkdownPath = Next() },
                "--resume" => o with { ResumePath = Next() },
                "--prepare-only" => o with { PrepareOnly = true },
                "--child" => o with { Child = true },
                "--ckpt" => o with { Checkpoint = Next() },
                "--out" => o with { ChildOut = Next() },
                _ => throw new ArgumentException($"cpu-model: unknown argument '{a}' (try --help)"),
            };
        }
        if (e2e)
        {
            o = o with { Stages = [.. o.Stages, "e2e"] };
        }
        return o;
    }

    private static CpuModelOptions Set(ref bool flag, CpuModelOptions o)
    {
        flag = true;
        return o;
    }

    private static string[] List(string value, string[] allowed, string option)
    {
        string[] items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string s in items)
        {
            if (!allowed.Contains(s))
            {
                throw new ArgumentException($"cpu-model: {option} '{s}' is not one of {string.Join(", ", allowed)}");
            }
        }
        return items.Length > 0 ? items : throw new ArgumentException($"cpu-model: {option} needs at least one value");
    }

    /// <summary>The geometry these options ask for.</summary>
    public ModelGeometry Geometry => (Quick ? ModelGeometry.Quick : ModelGeometry.Released)
        .WithLayers(LlmLayers, VitLayers, SiglipLayers, BertLayers);
}

/// <summary>One row of the result table.</summary>
public sealed record CpuModelRow(string Stage, string Precision, double? Ours, double Floor, string FloorBasis,
    double? OursOverFloor, double? PyTorch, double? PyTorchOverOurs, string Unit, double? Target, string? Note);

/// <summary>
/// <c>med2e3-bench cpu-model</c>: the whole Med-2E3 at its real size on the CPU. Writes (once, cached) a seeded
/// synthetic bf16 checkpoint of the geometry (<see cref="SyntheticModel"/>), measures the machine's floors
/// (<see cref="CpuFloors"/>), then for each precision runs the stages in a child process of its own
/// (<see cref="CpuModelStages"/>: peak RSS is per precision) and, when <c>python3</c> imports torch, the same stages in
/// PyTorch (<c>benchmarks/pytorch/med2e3_cpu_bench.py</c>: vision stages and LLM stages in separate processes, after
/// ours, so two full models are never in memory at once). Prints a markdown table (stage | precision | ours | floor |
/// ours/floor | PyTorch | ratio | target), writes JSON and markdown. The floor of a stage is its FLOPs (counted from
/// the geometry) at the FMA peak of the precision, for decode the larger of that and the bytes it must read (bf16
/// weights, f32 KV cache) at the measured read bandwidth.
/// </summary>
public static class CpuModelBenchmark
{
    /// <summary>The question every stage that tokenizes uses.</summary>
    public const string Question = "Can you provide a caption consisting of findings for this medical image? "
        + "Describe the organs, any lesion, its size, density and location, and whether there is free fluid.";

    /// <summary>JSON settings of every file this benchmark and its Python twin write.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    // Targets (2 threads, released geometry): seconds (per token for decode), GB for peak RSS.
    private static readonly Dictionary<(string, string), double> Targets = new()
    {
        [("vit", "f32")] = 3, [("siglip", "f32")] = 25, [("prefill", "f32")] = 25, [("decode", "f32")] = 0.45,
        [("vit", "bf16")] = 1, [("siglip", "bf16")] = 6, [("prefill", "bf16")] = 4, [("decode", "bf16")] = 0.42,
        [("e2e", "bf16")] = 60, [("peak RSS", "f32")] = 10, [("peak RSS", "bf16")] = 10,
    };

    private static readonly string[] VisionStages = ["vit", "siglip", "bert", "connectors"];

    public static int Run(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine(CpuModelOptions.Usage);
            return 0;
        }
        CpuModelOptions o;
        try
        {
            o = CpuModelOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        return o.Child ? CpuModelStages.RunChild(o) : RunParent(o);
    }

    private static int RunParent(CpuModelOptions o)
    {
        string loadBefore = LoadAverage();
        ModelGeometry g = o.Geometry;
        Console.WriteLine($"cpu-model: {g.Describe()}");
        Console.WriteLine($"threads {o.Threads}; reps {o.Reps} (median, after one warm-up), long stages {o.LongReps} "
            + $"({string.Join(", ", CpuModelStages.Long)}{(o.WarmupLong ? ", after a warm-up" : ", no warm-up")}); load average before: {loadBefore}");
        var previous = o.ResumePath is not null && File.Exists(o.ResumePath)
            ? JsonSerializer.Deserialize<CpuModelDocument>(File.ReadAllText(o.ResumePath), Json) : null;

        string ckpt = SyntheticModel.Ensure(o.Work, g, o.Seed, Console.Out);
        if (o.PrepareOnly)
        {
            return 0;
        }

        CpuFloors floors = previous?.Floors is { } f ? f : CpuFloors.Measure(o.Threads, o.Quick);
        Console.WriteLine(floors.Describe() + (previous?.Floors is not null ? $" (from {o.ResumePath})" : ""));
        long ckptBytes = WarmPageCache(ckpt);
        Console.WriteLine($"page cache warmed: {ckptBytes / 1e9:F2} GB read; memory available {MemAvailableGB():F1} GB "
            + $"(the weights widened to f32 take {2 * ckptBytes / 1e9:F1} GB, in bf16 {ckptBytes / 1e9:F1} GB)");

        string? script = o.PyTorch == "off" ? null : FindScript();
        // Debian's python3-torch is for /usr/bin/python3; a python3 earlier on PATH (pyenv, venv) may not have it.
        string? python = o.PyTorch == "off" || script is null ? null
            : new[] { o.Python, o.Python == "python3" ? "/usr/bin/python3" : o.Python }.FirstOrDefault(py => TorchVersion(py) is not null);
        o = o with { Python = python ?? o.Python };
        string pyNote = o.PyTorch == "off" ? "PyTorch: off"
            : script is null ? "PyTorch: script med2e3_cpu_bench.py not found"
            : python is not null ? $"PyTorch {TorchVersion(python)} ({python})" : $"PyTorch: {o.Python} cannot import torch (apt-get install python3-torch)";
        bool torch = pyNote.StartsWith("PyTorch ", StringComparison.Ordinal) && char.IsDigit(pyNote[8]);
        Console.WriteLine(pyNote);

        var children = new List<ChildReport>();
        // The JSON is rewritten after every child, so an interrupted run can be resumed from it (--resume).
        CpuModelDocument Document() => new("cpu-model", g, ckpt, o.Threads, o.Reps, o.LongReps, loadBefore, LoadAverage(),
            pyNote, floors, children, BuildRows(g, o, floors, ckptBytes, children));
        void Add(ChildReport c)
        {
            children.Add(c);
            if (o.JsonPath is not null) File.WriteAllText(o.JsonPath, JsonSerializer.Serialize(Document(), Json));
        }
        foreach (string p in o.Precisions)
        {
            Add(RunChild(o, ckpt, "ours", p, [.. o.Stages], previous));
            if (torch)
            {
                string tp = p == "f32" ? "fp32" : "bf16";
                string[] vision = [.. VisionStages.Where(o.Stages.Contains)];
                string[] llm = [.. new[] { "prefill", "decode", "e2e" }.Where(o.Stages.Contains)];
                // The same token counts as ours: BERT's real question tokens and the e2e prompt length.
                var ours = children[^1].Stages;
                string[] counts =
                [
                    "--bert-tokens", $"{ours.FirstOrDefault(s => s.Stage == "bert")?.Tokens ?? 40}",
                    "--prompt-tokens", $"{ours.FirstOrDefault(s => s.Stage == "e2e")?.Tokens ?? 0}",
                ];
                if (vision.Length > 0) Add(RunChild(o, ckpt, "pytorch", p, vision, previous, script!, tp, counts));
                if (llm.Length > 0) Add(RunChild(o, ckpt, "pytorch", p, llm, previous, script!, tp, counts));
            }
        }

        var doc = Document();
        string table = Markdown(doc);
        Console.WriteLine();
        Console.WriteLine(table);
        if (o.JsonPath is not null)
        {
            File.WriteAllText(o.JsonPath, JsonSerializer.Serialize(doc, Json));
            Console.WriteLine($"wrote {o.JsonPath}");
        }
        if (o.MarkdownPath is not null)
        {
            File.WriteAllText(o.MarkdownPath, table);
            Console.WriteLine($"wrote {o.MarkdownPath}");
        }
        return children.Any(c => c.Error is not null) ? 1 : 0;
    }

    /// <summary>Runs one child (ours or PyTorch) for the stages not already in <paramref name="previous"/>.</summary>
    private static ChildReport RunChild(CpuModelOptions o, string ckpt, string impl, string precision, string[] stages,
        CpuModelDocument? previous, string? script = null, string? torchPrecision = null, string[]? extra = null)
    {
        var done = previous?.Children
            .Where(c => c.Impl == impl && c.Precision == precision)
            .SelectMany(c => c.Stages).Where(s => stages.Contains(s.Stage)).ToList() ?? [];
        ChildReport? old = previous?.Children.FirstOrDefault(c => c.Impl == impl && c.Precision == precision && c.Stages.Any(s => stages.Contains(s.Stage)));
        string[] todo = [.. stages.Where(s => done.All(d => d.Stage != s))];
        // Peak RSS belongs to the process that held the whole model: a resumed ours run needs its load again.
        if (todo.Length == 0)
        {
            Console.WriteLine($"{impl} {precision}: {string.Join(", ", stages)} taken from {o.ResumePath}");
            return old! with { Stages = done };
        }
        string outFile = Path.Combine(Path.GetFullPath(o.Work), $"child-{impl}-{precision}-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        var psi = impl == "ours" ? SelfCommand() : new ProcessStartInfo(o.Python) { ArgumentList = { script! } };
        if (impl == "ours")
        {
            foreach (string a in new[] { "cpu-model", "--child", "--ckpt", ckpt, "--precision", precision, "--stages", string.Join(",", todo),
                         "--reps", $"{o.Reps}", "--long-reps", $"{o.LongReps}", "--threads", $"{o.Threads}",
                         "--decode-steps", $"{o.DecodeSteps}", "--e2e-tokens", $"{o.E2eTokens}", "--out", outFile })
            {
                psi.ArgumentList.Add(a);
            }
            if (o.WarmupLong) psi.ArgumentList.Add("--warmup-long");
            psi.Environment["DOTNET_PROCESSOR_COUNT"] = $"{o.Threads}";
        }
        else
        {
            string[] pyArgs =
            [
                "--ckpt", ckpt, "--precision", torchPrecision!, "--stages", string.Join(",", todo),
                "--reps", $"{o.Reps}", "--long-reps", $"{o.LongReps}", "--threads", $"{o.Threads}",
                "--decode-steps", $"{o.DecodeSteps}", "--e2e-tokens", $"{o.E2eTokens}", "--out", outFile, .. extra ?? [],
            ];
            foreach (string a in pyArgs)
            {
                psi.ArgumentList.Add(a);
            }
            if (o.WarmupLong) psi.ArgumentList.Add("--warmup-long");
            foreach (string v in new[] { "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS" })
            {
                psi.Environment[v] = $"{o.Threads}";
            }
        }
        psi.UseShellExecute = false;
        Console.WriteLine($"{impl} {precision}: {string.Join(", ", todo)} (load average {LoadAverage()})");
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {psi.FileName}");
        string? error = null;
        if (!process.WaitForExit(TimeSpan.FromMinutes(o.TimeoutMinutes)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            error = $"killed after the {o.TimeoutMinutes} min limit (--timeout-min)";
        }
        else if (process.ExitCode != 0)
        {
            error = process.ExitCode == 137 ? "exit 137 (killed: out of memory?)" : $"exit code {process.ExitCode}";
        }
        ChildReport report = File.Exists(outFile)
            ? JsonSerializer.Deserialize<ChildReport>(File.ReadAllText(outFile), Json)!
            : new ChildReport(impl, precision, o.Threads, [], null, null, null);
        File.Delete(outFile);
        if (error is not null || report.Error is not null)
        {
            report = report with { Error = report.Error ?? error };
            Console.WriteLine($"{impl} {precision}: {report.Error}");
        }
        Console.WriteLine($"{impl} {precision}: done in {clock.Elapsed.TotalSeconds:F1} s, peak RSS {report.PeakRssGB:F2} GB");
        return report with { Stages = [.. done, .. report.Stages], PeakRssGB = report.PeakRssGB ?? old?.PeakRssGB };
    }

    /// <summary>This program again: the apphost beside the assembly, else <c>dotnet med2e3-bench.dll</c>.</summary>
    private static ProcessStartInfo SelfCommand()
    {
        string dll = typeof(CpuModelBenchmark).Assembly.Location;
        string host = Path.Combine(Path.GetDirectoryName(dll)!, Path.GetFileNameWithoutExtension(dll) + (OperatingSystem.IsWindows() ? ".exe" : ""));
        if (File.Exists(host))
        {
            return new ProcessStartInfo(host);
        }
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(dll);
        return psi;
    }

    private static string? FindScript()
    {
        string beside = Path.Combine(SyntheticModel.DataDir, "med2e3_cpu_bench.py");
        if (File.Exists(beside)) return beside;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string s = Path.Combine(d.FullName, "benchmarks", "pytorch", "med2e3_cpu_bench.py");
            if (File.Exists(s)) return s;
        }
        return null;
    }

    private static string? TorchVersion(string python)
    {
        try
        {
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("import torch; print(torch.__version__)");
            using var p = Process.Start(psi)!;
            string v = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 && v.Length > 0 ? v : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Reads every file of the checkpoint once, so load times are with a warm page cache; returns the bytes.</summary>
    private static long WarmPageCache(string ckpt)
    {
        long total = 0;
        var buffer = new byte[4 << 20];
        foreach (string file in Directory.EnumerateFiles(ckpt, "*", SearchOption.AllDirectories))
        {
            using var s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            int n;
            while ((n = s.Read(buffer)) > 0) total += n;
        }
        return total;
    }

    private static double MemAvailableGB()
    {
        try
        {
            string? line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
            return line is null ? double.NaN
                : long.Parse(line["MemAvailable:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024 / 1e9;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>/proc/loadavg's three averages, or "n/a".</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    // ------------------------------------------------------------------------------------------------ floors

    /// <summary>FLOPs of a stage (one multiply-add = 2), counted from the geometry.</summary>
    public static double Flops(string stage, ModelGeometry g, int tokens = 0)
    {
        double h, m;
        switch (stage)
        {
            case "vit":
            {
                h = g.V3Hidden; m = g.V3Mlp;
                double n = g.Patches3D + 1;
                return 2.0 * g.Patches3D * g.PatchVector * h + g.V3Layers * (2 * n * (4 * h * h + 2 * h * m) + 4 * n * n * h);
            }
            case "siglip":
            {
                h = g.V2Hidden; m = g.V2Intermediate;
                double t = g.SigLipTokens;
                return g.Slices * (2 * t * 3 * g.V2Patch * g.V2Patch * h + g.V2Layers * (2 * t * (4 * h * h + 2 * h * m) + 4 * t * t * h));
            }
            case "bert":
            {
                h = g.BertHidden; m = g.BertIntermediate;
                double t = tokens;
                return g.BertLayers * (2 * t * (4 * h * h + 2 * h * m) + 4 * t * t * h) + 2 * h * h;
            }
            case "connectors":
            {
                double d = g.LlmHidden, s = g.Slices, t2 = g.SigLipTokens, l3 = g.Pooled3DTokens;
                return 2 * s * t2 * (g.V2Hidden * d + d * d) + 2 * l3 * (g.V3Hidden * d + d * d) + 2 * g.BertHidden * d
                       + 2 * s * (l3 / (g.Grid[0] / 2.0) + t2) * d + 2 * s * t2 * d;
            }
            case "prefill":
            {
                double t = tokens;
                return g.LlmLayers * (2 * t * LlmLayerWeights(g) + 2 * t * t * g.LlmHidden) + 2.0 * g.LlmHidden * g.LlmVocab;
            }
            case "decode":
                // one token at context `tokens`
                return g.LlmLayers * (2 * LlmLayerWeights(g) + 4.0 * tokens * g.LlmHidden) + 2.0 * g.LlmHidden * g.LlmVocab;
            default:
                throw new ArgumentException($"no FLOP count for '{stage}'");
        }
    }

    /// <summary>Weights of one Phi-3 layer's products: qkv, o_proj, gate_up, down.</summary>
    private static double LlmLayerWeights(ModelGeometry g)
    {
        double h = g.LlmHidden, m = g.LlmIntermediate;
        return 3 * h * h + h * h + 2 * h * m + m * h;
    }

    /// <summary>Bytes one decode step must read at context <paramref name="context"/>: bf16 weights, f32 K and V.</summary>
    public static double DecodeBytes(ModelGeometry g, int context) =>
        2 * (g.LlmLayers * LlmLayerWeights(g) + (double)g.LlmHidden * g.LlmVocab) + 2.0 * g.LlmLayers * context * g.LlmHidden * 4;

    private static (double Seconds, string Basis) Floor(string stage, string precision, ModelGeometry g, CpuFloors f,
        long ckptBytes, int tokens, int e2eTokens, int bertTokens)
    {
        double peak = (precision == "bf16" ? f.Bf16GflopsN : f.FmaGflopsN) * 1e9;
        string peakName = precision == "bf16" ? "bf16 peak" : "f32 FMA peak";
        double bw = f.ReadGBps * 1e9;
        switch (stage)
        {
            case "load":
                return (ckptBytes / bw, $"{ckptBytes / 1e9:F2} GB read at {f.ReadGBps:F1} GB/s");
            case "decode":
            {
                double flops = Flops("decode", g, tokens), bytes = DecodeBytes(g, tokens);
                return (Math.Max(flops / peak, bytes / bw), string.Create(CultureInfo.InvariantCulture, $"max({bytes / 1e9:G4} GB at read bw, {flops / 1e9:G4} GFLOP at {peakName})"));
            }
            case "e2e":
            {
                double flops = Flops("vit", g) + Flops("siglip", g) + Flops("bert", g, bertTokens) + Flops("connectors", g) + Flops("prefill", g, tokens);
                double decode = 0;
                for (int i = 0; i < e2eTokens - 1; i++)
                {
                    decode += Math.Max(Flops("decode", g, tokens + i) / peak, DecodeBytes(g, tokens + i) / bw);
                }
                return (flops / peak + decode, string.Create(CultureInfo.InvariantCulture, $"encoders + prefill {flops / 1e12:G4} TFLOP at {peakName} + {e2eTokens - 1} decode floors"));
            }
            default:
            {
                double flops = Flops(stage, g, tokens);
                return (flops / peak, string.Create(CultureInfo.InvariantCulture, $"{flops / 1e9:G4} GFLOP at {peakName}"));
            }
        }
    }

    private static List<CpuModelRow> BuildRows(ModelGeometry g, CpuModelOptions o, CpuFloors f, long ckptBytes, List<ChildReport> children)
    {
        bool released = g == ModelGeometry.Released;
        var rows = new List<CpuModelRow>();
        foreach (string p in o.Precisions)
        {
            ChildReport? ours = children.FirstOrDefault(c => c.Impl == "ours" && c.Precision == p);
            var torch = children.Where(c => c.Impl == "pytorch" && c.Precision == p).SelectMany(c => c.Stages).ToList();
            foreach (string stage in CpuModelStages.All.Where(o.Stages.Contains))
            {
                StageResult? r = ours?.Stages.FirstOrDefault(s => s.Stage == stage);
                StageResult? t = torch.FirstOrDefault(s => s.Stage == stage);
                int tokens = stage switch
                {
                    "bert" => r?.Tokens ?? t?.Tokens ?? 24,
                    "prefill" => g.PrefillTokens,
                    "decode" => (r?.Tokens ?? g.DecodeContext - o.DecodeSteps) + Math.Min(o.DecodeSteps, g.DecodeContext - 1) / 2,
                    "e2e" => r?.Tokens ?? t?.Tokens ?? g.VisualTokens + 60,
                    _ => 0,
                };
                int bertTokens = ours?.Stages.FirstOrDefault(s => s.Stage == "bert")?.Tokens ?? 24;
                var (floor, basis) = Floor(stage, p, g, f, ckptBytes, tokens, o.E2eTokens, bertTokens);
                double? target = released && Targets.TryGetValue((stage, p), out double tv) ? tv : null;
                string? note = r is null ? ours?.Error is null ? "not run" : "failed, see below" : null;
                rows.Add(new CpuModelRow(stage, p, r?.Median, floor, basis, r is null ? null : r.Median / floor, t?.Median,
                    r is not null && t is not null ? t.Median / r.Median : null, stage == "decode" ? "s/token" : "s", target, note));
            }
            if (ours?.PeakRssGB is { } rss)
            {
                double weights = ckptBytes / 1e9;
                double? torchRss = children.Where(c => c.Impl == "pytorch" && c.Precision == p).Max(c => c.PeakRssGB);
                rows.Add(new CpuModelRow("peak RSS", p, rss, weights, $"checkpoint bytes ({weights:F2} GB)", rss / weights, torchRss,
                    torchRss is { } tr ? tr / rss : null, "GB", released && Targets.TryGetValue(("peak RSS", p), out double tv) ? tv : null,
                    $"VmHWM of the process; after load {ours.RssAfterLoadGB:F2} GB"));
            }
        }
        return rows;
    }

    /// <summary>The markdown report: header lines and the table.</summary>
    public static string Markdown(CpuModelDocument d)
    {
        var w = new StringBuilder();
        w.AppendLine($"geometry: {d.Geometry.Describe()}");
        w.AppendLine();
        w.AppendLine($"machine: {d.Floors.Describe()}");
        w.AppendLine();
        w.AppendLine($"threads {d.Threads}; statistic: median of {d.Reps} runs after one warm-up ({d.LongReps} for siglip, prefill, e2e); "
            + $"load average before {d.LoadavgBefore}, after {d.LoadavgAfter}; {d.Pytorch}");
        w.AppendLine();
        w.AppendLine("| stage | precision | ours | floor | ours/floor | PyTorch | ratio (PyTorch/ours) | target |");
        w.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (CpuModelRow r in d.Rows)
        {
            string u = r.Unit;
            w.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Stage} | {r.Precision} | {Fmt(r.Ours, u)}{(r.Note is { } n && r.Ours is null ? $" ({n})" : "")} | {Fmt(r.Floor, u)} | "
                + $"{(r.OursOverFloor is { } x ? $"{x:F1}×" : "—")} | {Fmt(r.PyTorch, u)} | {(r.PyTorchOverOurs is { } y ? $"{y:F2}" : "—")} | {Fmt(r.Target, u)} |"));
        }
        w.AppendLine();
        w.AppendLine("Floors: " + string.Join("; ", d.Rows.Where(r => r.Precision == d.Rows[0].Precision).Select(r => $"{r.Stage}: {r.FloorBasis}")) + ".");
        w.AppendLine("ratio > 1: PyTorch takes longer than ours (the target is ≥ 3 for the bf16 stages). "
            + "peak RSS: VmHWM of each process (PyTorch: the larger of its two processes).");
        foreach (ChildReport c in d.Children)
        {
            foreach (StageResult s in c.Stages)
            {
                string runs = string.Join(", ", s.Times.Select(x => x.ToString("G4", CultureInfo.InvariantCulture)));
                string hwm = s.HwmGB is { } h ? string.Create(CultureInfo.InvariantCulture, $"; peak RSS so far {h:F2} GB") : "";
                w.AppendLine($"- {c.Impl} {c.Precision} {s.Stage}: {s.Detail}; runs {runs} {s.Unit}{hwm}");
            }
            if (c.Error is not null) w.AppendLine($"- {c.Impl} {c.Precision}: {c.Error}");
            if (c.Blas is { Length: > 0 } blas) w.AppendLine($"- {c.Impl} {c.Precision} libraries: {string.Join(", ", blas)}");
        }
        return w.ToString();
    }

    private static string Fmt(double? v, string unit) => v is not { } x ? "—" : unit switch
    {
        "GB" => string.Create(CultureInfo.InvariantCulture, $"{x:F2} GB"),
        "s/token" => string.Create(CultureInfo.InvariantCulture, $"{x * 1e3:F2} ms/tok"),
        _ => x >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{x:F2} s")
            : x >= 1e-3 ? string.Create(CultureInfo.InvariantCulture, $"{x * 1e3:F1} ms")
            : string.Create(CultureInfo.InvariantCulture, $"{x * 1e6:F1} µs"),
    };
}

/// <summary>The JSON document of a cpu-model run (also what <c>--resume</c> reads).</summary>
public sealed record CpuModelDocument(string Benchmark, ModelGeometry Geometry, string Checkpoint, int Threads, int Reps,
    int LongReps, string LoadavgBefore, string LoadavgAfter, string Pytorch, CpuFloors Floors, List<ChildReport> Children,
    List<CpuModelRow> Rows);
