using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Models.Training;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 finetune</c>: the stage-2 fine-tuning recipe (spec §9) on an M3D-style JSON file (<c>vision3d</c>,
/// <c>question</c>, <c>conversations</c>): the human turns and gpt answers are the training text, <c>question</c> feeds
/// TG-IS. Writes one log line (or JSON line) per optimiser step and saves the trained checkpoint folder at the end.
/// </summary>
public static class FinetuneCommand
{
    /// <summary>
    /// What <c>finetune</c> was asked to do: <c>Overwrite</c> replaces an existing <c>--out</c> folder (whole) instead of
    /// refusing it, <c>SaveEvery</c> also saves the checkpoint every N steps (null: only at the end), <c>MaxVoxels</c> is
    /// the largest volume read (<c>--max-voxels</c>).
    /// </summary>
    public sealed record Settings(string CheckpointDir, string DataPath, string VolumeRoot, string OutDir, string Device,
        FineTuneOptions Options, bool Json, VolumeOptions.Values? Volume = null, bool Overwrite = false,
        int? SaveEvery = null);

    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint(required: true);
        var data = CommonOptions.M3DData("M3D-style JSON: a list of {\"vision3d\": path, \"question\": text, \"conversations\": [human, gpt, ...]}");
        var volumeRoot = CommonOptions.VolumeRoot();
        var output = new Option<DirectoryInfo>("--out", "-o")
        {
            Description = "Folder to write the fine-tuned checkpoint to (the release layout); written whole, then renamed into place",
            Required = true,
            HelpName = "DIR",
        };
        var overwrite = CommonOptions.Overwrite("Replace an existing --out folder (whole); without it an existing folder is refused");
        var saveEvery = CommonOptions.PositiveInt("--save-every",
            "Also save the checkpoint to --out every N steps, so an interrupted run keeps the last one");
        var defaults = new FineTuneOptions();
        var epochs = CommonOptions.PositiveInt("--epochs", $"Passes over the data (default {defaults.Epochs})");
        var lr = NonNegative("--lr", "Peak learning rate", defaults.LearningRate);
        var gradAccum = CommonOptions.PositiveInt("--grad-accum",
            "Samples per optimiser step, gradients accumulated (default 1; the recipe's global batch is 128)");
        var maxSteps = CommonOptions.PositiveInt("--max-steps", "Stop after N optimiser steps (the schedule spans them)");
        var warmup = NonNegative("--warmup-ratio", "Linear warmup over ceil(ratio x steps) steps, then cosine decay to 0",
            defaults.WarmupRatio, max: 1);
        var weightDecay = NonNegative("--weight-decay", "AdamW decoupled weight decay", defaults.WeightDecay);
        var noAugment = new Option<bool>("--no-augment") { Description = "Turn off the rotate/flip/intensity augmentations" };
        var noDropout = new Option<bool>("--no-dropout") { Description = "Turn off the TG-IS score dropout and BERT dropout" };
        var seed = new Option<long>("--seed")
        {
            Description = "Seed of the data order, augmentations and dropout masks",
            HelpName = "S",
            DefaultValueFactory = _ => defaults.Seed,
        };
        var device = CommonOptions.Device();
        var checkpointing = new Option<bool>("--gradient-checkpointing")
        {
            Description = "Recompute SigLIP and Phi-3 layers in backward (less memory, more time)",
        };
        var json = CommonOptions.Json();
        json.Description = "Write one JSON line per step and a final JSON line to stdout; no progress output";

        var command = new Command("finetune",
            "Fine-tune a checkpoint on M3D-style data (stage-2 recipe: llm, SigLIP and connectors train; M3D-CLIP frozen)")
        {
            checkpoint, data, volumeRoot, output, overwrite, saveEvery, epochs, lr, gradAccum, maxSteps, warmup, weightDecay,
            noAugment, noDropout, seed, device, checkpointing, json,
        };
        var volumeOptions = VolumeOptions.AddTo(command);
        command.SetAction(parse =>
        {
            var options = defaults with
            {
                Epochs = parse.GetValue(epochs) ?? defaults.Epochs,
                LearningRate = parse.GetValue(lr),
                GradAccum = parse.GetValue(gradAccum) ?? defaults.GradAccum,
                MaxSteps = parse.GetValue(maxSteps),
                WarmupRatio = parse.GetValue(warmup),
                WeightDecay = parse.GetValue(weightDecay),
                Augment = !parse.GetValue(noAugment),
                Dropout = !parse.GetValue(noDropout),
                Seed = parse.GetValue(seed),
                GradientCheckpointing = parse.GetValue(checkpointing),
            };
            bool jsonMode = parse.GetValue(json);
            var settings = new Settings(parse.GetValue(checkpoint)!.FullName, parse.GetValue(data)!.FullName,
                parse.GetValue(volumeRoot)!.FullName, parse.GetValue(output)!.FullName, parse.GetValue(device) ?? "auto",
                options, jsonMode, volumeOptions.Get(parse), parse.GetValue(overwrite), parse.GetValue(saveEvery));
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                jsonMode, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    /// <summary>A finite number option ≥ 0 (and ≤ <paramref name="max"/>), parsed as a double.</summary>
    static Option<double> NonNegative(string name, string description, double defaultValue, double max = double.MaxValue) =>
        new(name)
        {
            Description = description,
            HelpName = "X",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                    || !double.IsFinite(x) || x < 0 || x > max)
                {
                    result.AddError(max < double.MaxValue
                        ? $"{name} expects a number in [0, {max.ToString(CultureInfo.InvariantCulture)}], got '{text}'"
                        : $"{name} expects a number ≥ 0, got '{text}'");
                    return defaultValue;
                }
                return x;
            },
        };

    /// <summary>One step as a <c>--json</c> line (snake_case keys).</summary>
    public sealed record StepLine(string Event, int Step, int TotalSteps, int Epoch, double Loss, double LearningRate,
        double GradNorm, int Samples, double Seconds, double SamplesPerSecond, double EtaSeconds);

    /// <summary>The final <c>--json</c> line.</summary>
    public sealed record DoneLine(string Event, string Out, string Device, int Steps, int Samples, double FirstLoss,
        double LastLoss, double TrainSeconds, double SamplesPerSecond, FineTuneOptions Options);

    /// <summary>A <c>--json</c> line after each checkpoint saved during the run (<c>--save-every</c>).</summary>
    public sealed record SavedLine(string Event, string Out, int Step, int TotalSteps);

    /// <summary>The <c>--json</c> line of a run stopped by Ctrl+C: the last step done and the last complete checkpoint.</summary>
    public sealed record InterruptedLine(string Event, int Step, int TotalSteps, string? LastCheckpoint, int? LastCheckpointStep);

    static readonly JsonSerializerOptions JsonLine = new(Json.Options) { WriteIndented = false };

    public static int Run(Settings settings, Terminal terminal)
    {
        var clock = Stopwatch.StartNew();
        string device = DeviceChoice.Resolve(settings.Device);
        if (settings.Options.Validate() is { } problem)
            throw CliException.Usage(problem);
        CommonOptions.CheckM3DPaths(settings.DataPath, settings.VolumeRoot, settings.CheckpointDir);
        List<M3DItem> items = CommonOptions.LoadM3DItems(settings.DataPath);
        var volumePaths = items.Select(item => CheckItem(settings, item)).ToList();
        // Every volume is read once before training, so a bad file stops the run before any work is spent on it.
        for (int i = 0; i < items.Count; i++)
        {
            try
            {
                VolumeInput.ReadFile(volumePaths[i], settings.Volume ?? VolumeOptions.Values.Default);
            }
            catch (Exception e) when (Failure.Classify(e).ExitCode == ExitCodes.BadInput)
            {
                throw CliException.BadInput($"{settings.DataPath}: item {items[i].Index}: {Failure.Classify(e).Message}", e);
            }
        }

        CheckOutput(settings.OutDir, settings.CheckpointDir, settings.Overwrite);

        var (model, _) = terminal.Stage($"Loading weights on {device}",
            () => Med2E3Model.Load(settings.CheckpointDir, device));
        using var _model = model;
        int[] imgSize = model.Checkpoint.Vision3DConfig.ImgSize;

        var samples = new List<FineTuneSample>();
        for (int i = 0; i < items.Count; i++)
        {
            M3DItem item = items[i];
            string path = volumePaths[i];
            string name = $"item {item.Index} ({Path.GetFileName(path)})";
            float[] Load()
            {
                try
                {
                    var (source, prepared) = VolumeInput.Read(path, imgSize, settings.Volume ?? VolumeOptions.Values.Default);
                    using var input = prepared;
                    foreach (string line in VolumeInput.Describe(source, input))
                        terminal.Detail(line);
                    return input.Data;
                }
                catch (Exception e) when (Failure.Classify(e).ExitCode == ExitCodes.BadInput)
                {
                    throw CliException.BadInput($"{settings.DataPath}: item {item.Index}: {Failure.Classify(e).Message}", e);
                }
            }
            var sample = FineTuneSample.FromConversation(model, name, Load, item.Question, item.Conversations);
            if (sample.TrainedTokens == 0)
                throw CliException.BadInput($"{settings.DataPath}: item {item.Index}: field 'conversations': no answer tokens "
                    + $"to train on (the answer is empty or cut off by llm_max_length {model.MaxLength})");
            samples.Add(sample);
        }

        using var tuner = new FineTuner(model, settings.Options, samples.Count);
        terminal.Status($"{samples.Count} samples, {tuner.TotalSteps} steps ({tuner.StepsPerEpoch} per epoch, grad-accum "
            + $"{settings.Options.GradAccum}), warmup {tuner.WarmupSteps}, lr {settings.Options.LearningRate.ToString("G3", CultureInfo.InvariantCulture)}, "
            + $"{tuner.TrainableParameters.Sum(p => p.Numel).ToString("N0", CultureInfo.InvariantCulture)} trainable parameters; augment "
            + $"{(settings.Options.Augment ? "on" : "off")}, dropout {(settings.Options.Dropout ? "on" : "off")}, seed {settings.Options.Seed}");

        var steps = new List<FineTuneStep>();
        var trainClock = Stopwatch.StartNew();
        int samplesDone = 0;
        // Each step already prints its own line (stdout); the progress bar is only drawn on a terminal, where it
        // stays below the step lines. Redirected, a second per-step line on stderr would repeat every step.
        void TrainWithProgress(Action<Action<string>> work)
        {
            if (terminal.Fancy) terminal.Progress("Fine-tuning", tuner.TotalSteps, "steps", work);
            else work(_ => { });
        }

        int? savedStep = null;
        void Save(string title)
        {
            // The first save replaces an existing --out only with --overwrite; later ones replace this run's own.
            terminal.Stage(title, () =>
            {
                tuner.Save(settings.OutDir, overwrite: settings.Overwrite || savedStep is not null);
                return 0;
            });
            savedStep = tuner.StepsDone;
        }

        // Ctrl+C stops at the next step boundary (a second one ends the process at once); every save is atomic, so
        // --out is always a complete checkpoint or absent.
        using var interrupt = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            if (interrupt.IsCancellationRequested) return;
            context.Cancel = true;
            interrupt.Cancel();
        });
        try
        {
            TrainWithProgress(advance =>
            {
                tuner.Train(samples, step =>
                {
                    steps.Add(step);
                    samplesDone += step.Samples;
                    double elapsed = trainClock.Elapsed.TotalSeconds;
                    double rate = samplesDone / Math.Max(elapsed, 1e-9);
                    double eta = (step.TotalSteps - step.Step) * (elapsed / step.Step);
                    if (settings.Json)
                    {
                        terminal.Out.WriteLine(JsonSerializer.Serialize(new StepLine("step", step.Step, step.TotalSteps, step.Epoch,
                            Math.Round(step.Loss, 6), step.LearningRate, Math.Round(step.GradNorm, 6), step.Samples,
                            Math.Round(step.Seconds, 4), Math.Round(rate, 4), Math.Round(eta, 1)), JsonLine));
                    }
                    else
                    {
                        terminal.Out.WriteLine(Inv(
                            $"step {step.Step}/{step.TotalSteps}  epoch {step.Epoch}  loss {step.Loss:0.0000}  lr {step.LearningRate:0.000e+00}  ")
                            + Inv($"grad-norm {step.GradNorm:0.000}  {rate:0.00} samples/s  ETA {Terminal.FormatDuration(eta)}"));
                    }
                    terminal.Out.Flush();
                    foreach (string a in step.Augmentations) terminal.Detail($"  augment: {a}");
                    if (settings.SaveEvery is { } every && step.Step % every == 0 && step.Step < step.TotalSteps)
                    {
                        Save($"Saving step {step.Step} to {settings.OutDir}");
                        if (settings.Json)
                            terminal.Out.WriteLine(JsonSerializer.Serialize(
                                new SavedLine("saved", settings.OutDir, step.Step, step.TotalSteps), JsonLine));
                        terminal.Out.Flush();
                    }
                    advance(FormattableString.Invariant($"step {step.Step}  loss {step.Loss:0.0000}"));
                }, interrupt.Token);
            });
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            if (settings.Json)
            {
                terminal.Out.WriteLine(JsonSerializer.Serialize(new InterruptedLine("interrupted", tuner.StepsDone, tuner.TotalSteps,
                    savedStep is null ? null : settings.OutDir, savedStep), JsonLine));
                terminal.Out.Flush();
            }
            string where = savedStep is { } s
                ? $"the last complete checkpoint is {settings.OutDir} (step {s})"
                : $"no checkpoint was saved ({settings.OutDir} is as it was); --save-every N keeps one during a run";
            throw new CliException(ExitCodes.Interrupted,
                $"interrupted after step {tuner.StepsDone} of {tuner.TotalSteps}; {where}");
        }
        double trainSeconds = trainClock.Elapsed.TotalSeconds;

        Save($"Saving {settings.OutDir}");

        double samplesPerSecond = samplesDone / Math.Max(trainSeconds, 1e-9);
        if (settings.Json)
        {
            terminal.Out.WriteLine(JsonSerializer.Serialize(new DoneLine("done", settings.OutDir, device, steps.Count, samplesDone,
                Math.Round(steps[0].Loss, 6), Math.Round(steps[^1].Loss, 6), Math.Round(trainSeconds, 3),
                Math.Round(samplesPerSecond, 4), settings.Options), JsonLine));
        }
        else
        {
            terminal.Out.WriteLine(Inv(
                $"trained {steps.Count} steps ({samplesDone} samples) in {trainSeconds:0.00} s, {samplesPerSecond:0.00} samples/s; ")
                + Inv($"loss {steps[0].Loss:0.0000} → {steps[^1].Loss:0.0000} → {settings.OutDir}"));
        }
        terminal.Out.Flush();
        terminal.Status(Inv($"total {clock.Elapsed.TotalSeconds:0.00} s on {device}"));
        return ExitCodes.Ok;
    }

    static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The item's volume path; one-line errors (exit 3) for what cannot be trained on.</summary>
    static string CheckItem(Settings settings, M3DItem item)
    {
        string where = $"{settings.DataPath}: item {item.Index}";
        if (item.Vision3D.Count != 1)
            throw CliException.BadInput($"{where}: field 'vision3d': {item.Vision3D.Count} volumes; one per item is supported");
        if (!item.Conversations.Any(m => m.From == "human"))
            throw CliException.BadInput($"{where}: field 'conversations': no human turn");
        if (!item.Conversations.Any(m => m.From == "gpt"))
            throw CliException.BadInput($"{where}: field 'conversations': no gpt answer to train on");
        string path = Path.GetFullPath(Path.Combine(settings.VolumeRoot, item.Vision3D[0]));
        if (!File.Exists(path) && !Directory.Exists(path))
            throw CliException.BadInput($"{where}: field 'vision3d': {path}: volume file not found");
        return path;
    }

    /// <summary>
    /// The output folder must not overlap the source checkpoint, must not be a file, must not exist unless
    /// <paramref name="overwrite"/>, and its parent must be writable (exit code 6). Nothing is created yet: the
    /// checkpoint is written into a temporary sibling and renamed into place when it is complete.
    /// </summary>
    static void CheckOutput(string outDir, string checkpointDir, bool overwrite)
    {
        string a = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        string b = Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpointDir));
        if (a == b || a.StartsWith(b + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            || b.StartsWith(a + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw CliException.Output($"{outDir}: the output folder must not overlap the source checkpoint");
        if (File.Exists(outDir))
            throw CliException.Output($"{outDir}: exists and is a file, not a folder");
        if (Directory.Exists(outDir) && !overwrite)
            throw CliException.Output($"{outDir}: already exists; add --overwrite to replace it (whole, when the new one is complete)");
        string parent = Path.GetDirectoryName(a)!;
        for (string? p = parent; p is not null; p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p))
                throw CliException.Output($"{outDir}: {p} is a file, not a folder");
            if (Directory.Exists(p))
                break;
        }
        try
        {
            Directory.CreateDirectory(parent);
            string probe = AtomicFile.TemporarySibling(a, "probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OutputFileException.From(outDir, e);
        }
    }
}
