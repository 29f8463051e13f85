using System.CommandLine;
using System.Diagnostics;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 bench</c>: times each stage of the generate pipeline (load, read volume, vision, prefill, decode) on the
/// embedded demo or on a given checkpoint and volume, and points to <c>med2e3-bench</c> for per-op benchmarks.
/// </summary>
public static class BenchCommand
{
    public sealed record Settings(string? CheckpointDir, string? VolumePath, string? Question, string Device, int Runs,
        int? MaxNewTokens, bool Json, VolumeOptions.Values? Volume = null,
        Ops.Cpu.CpuPrecision Precision = Ops.Cpu.CpuPrecision.F32);

    /// <summary>What <c>bench --json</c> prints. Stage times in ms: median and minimum over the timed runs.</summary>
    public sealed record Report(string Model, string Device, string Dtype, int Runs, int NewTokens, double LoadMs,
        double ReadVolumeMs, StageStats Vision, StageStats Prefill, StageStats Decode, StageStats Generate,
        double DecodeTokensPerSecond, MachineInfo Machine);

    public sealed record StageStats(double MedianMs, double MinMs);

    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint(required: false);
        var volume = CommonOptions.Volume("Volume (file or DICOM folder) to time with --checkpoint (default: the embedded demo "
            + "model and volume)");
        var question = new Option<string>("--question", "-q") { Description = "Question (default: the demo's)", HelpName = "TEXT" };
        var runs = CommonOptions.PositiveInt("--runs", "Timed runs after one warm-up run (default 5)");
        var device = CommonOptions.Device("cpu");
        var precision = CommonOptions.Precision();
        var maxNewTokens = CommonOptions.PositiveInt("--max-new-tokens", "New tokens per run (default: 12 for the demo, 32 otherwise)");
        var json = CommonOptions.Json();
        var command = new Command("bench", "Time each stage of the generate pipeline (demo by default); per-op benchmarks live in med2e3-bench")
        {
            checkpoint, volume, question, runs, device, precision, maxNewTokens, json,
        };
        var volumeOptions = VolumeOptions.AddTo(command);
        command.Validators.Add(result =>
        {
            if ((result.GetResult(checkpoint) is null) != (result.GetResult(volume) is null))
                result.AddError("bench needs both --checkpoint and --volume, or neither (the embedded demo)");
        });
        command.SetAction(parse => Run(
            new Settings(parse.GetValue(checkpoint)?.FullName, parse.GetValue(volume), parse.GetValue(question),
                parse.GetValue(device) ?? "cpu", parse.GetValue(runs) ?? 5, parse.GetValue(maxNewTokens), parse.GetValue(json),
                volumeOptions.Get(parse), CommonOptions.ParsePrecision(parse.GetValue(precision))),
            Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(json),
                parse.GetValue<bool>("--verbose"))));
        return command;
    }

    public static int Run(Settings settings, Terminal terminal)
    {
        string device = DeviceChoice.Resolve(settings.Device);

        string checkpointDir, volumePath, question, model;
        string? bertVocab = null;
        var volumeOptions = settings.Volume ?? VolumeOptions.Values.Default;
        int newTokens;
        if (settings.CheckpointDir is null)
        {
            var demo = CommonOptions.ExtractDemo();
            (checkpointDir, volumePath, bertVocab) = (demo.CheckpointDir, demo.VolumePath, demo.TextVocabPath);
            if (volumeOptions == VolumeOptions.Values.Default)
                volumeOptions = volumeOptions with { Window = demo.Window };
            question = settings.Question ?? demo.Question;
            newTokens = settings.MaxNewTokens ?? demo.MaxNewTokens;
            model = "demo (tiny Med-2E3, random weights)";
        }
        else
        {
            (checkpointDir, volumePath) = (settings.CheckpointDir, settings.VolumePath!);
            question = settings.Question ?? "Describe the findings of this CT scan.";
            newTokens = settings.MaxNewTokens ?? 32;
            model = checkpointDir;
            if (!Directory.Exists(checkpointDir)) throw CliException.Checkpoint($"{checkpointDir}: checkpoint folder not found");
        }

        var (m, loadSeconds) = terminal.Stage($"Loading weights on {device}",
            () => Med2E3Model.Load(checkpointDir, device,
                new Med2E3LoadOptions { BertVocabPath = bertVocab, Precision = settings.Precision }));
        using var _m = m;
        var ((source, input), readSeconds) = terminal.Stage("Reading the volume",
            () => VolumeInput.Read(volumePath, m.Checkpoint.Vision3DConfig.ImgSize, volumeOptions));
        foreach (string line in VolumeInput.Describe(source, input))
            terminal.Detail(line);
        using var volume = Tensor.FromArray(input.Data, 1, 1, input.Depth, input.Height, input.Width); // (B, 1, D, H, W)

        // A fixed number of tokens per run: no stop token, so every run decodes the same amount.
        var options = new GenerationOptions { MaxNewTokens = newTokens, StopTokenIds = [] };
        var timings = new List<GenerationTimings>();
        var machine = MachineInfo.Current();
        var generateMs = new List<double>();
        terminal.Progress("Timing", settings.Runs + 1, "runs", advance =>
        {
            for (int run = 0; run <= settings.Runs; run++)
            {
                var clock = Stopwatch.StartNew();
                var result = m.Generate(volume, question, options);
                double ms = clock.Elapsed.TotalMilliseconds;
                if (run > 0)
                {
                    timings.Add(result.Timings);
                    generateMs.Add(ms);
                }
                advance(run == 0 ? "warm-up" : $"run {run}: {ms:0.0} ms");
            }
        });

        StageStats Stats(IEnumerable<double> ms)
        {
            var sorted = ms.Order().ToArray();
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
                : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            return new StageStats(Math.Round(median, 3), Math.Round(sorted[0], 3));
        }
        var vision = Stats(timings.Select(t => t.Vision.TotalMilliseconds));
        var prefill = Stats(timings.Select(t => t.Prefill.TotalMilliseconds));
        var decode = Stats(timings.Select(t => t.Decode.TotalMilliseconds));
        var generate = Stats(generateMs);
        int steps = timings[0].DecodeSteps;
        double tokensPerSecond = decode.MedianMs > 0 ? Math.Round(steps / (decode.MedianMs / 1000), 2) : 0;

        if (settings.Json)
        {
            Json.Write(terminal.Out, new Report(model, device, m.DType.ToString(), settings.Runs, newTokens,
                Math.Round(loadSeconds * 1000, 3), Math.Round(readSeconds * 1000, 3), vision, prefill, decode, generate,
                tokensPerSecond, machine));
            return ExitCodes.Ok;
        }

        var o = terminal.Out;
        o.WriteLine($"model {model}; device {device} ({m.DType}); {newTokens} new tokens; median of {settings.Runs} runs after 1 warm-up");
        o.WriteLine($"machine: {machine} when the runs started");
        o.WriteLine();
        o.WriteLine("| stage | median ms | min ms |");
        o.WriteLine("|---|---:|---:|");
        o.WriteLine($"| load weights (once) | {loadSeconds * 1000:0.0} | |");
        o.WriteLine($"| read + preprocess volume (once) | {readSeconds * 1000:0.0} | |");
        o.WriteLine($"| vision: 3D ViT, SigLIP, BERT, connectors, TG-IS | {vision.MedianMs:0.0} | {vision.MinMs:0.0} |");
        o.WriteLine($"| prefill: splice + Phi-3 prefill + first token | {prefill.MedianMs:0.0} | {prefill.MinMs:0.0} |");
        o.WriteLine($"| decode: {steps} steps with the KV cache | {decode.MedianMs:0.0} | {decode.MinMs:0.0} |");
        o.WriteLine($"| generate (vision + prefill + decode) | {generate.MedianMs:0.0} | {generate.MinMs:0.0} |");
        o.WriteLine();
        o.WriteLine($"decode: {tokensPerSecond:0.0} tokens/s");
        o.WriteLine();
        o.WriteLine("Per-op benchmarks (kernels vs CPU reference, cuBLAS; GPU): dotnet run -c Release --project benchmarks/Med2E3.Native.Benchmarks -- all");
        o.WriteLine("CPU GEMM against OpenBLAS (no GPU):                     dotnet run -c Release --project benchmarks/Med2E3.Native.Benchmarks -- cpu-gemm");
        return ExitCodes.Ok;
    }
}
