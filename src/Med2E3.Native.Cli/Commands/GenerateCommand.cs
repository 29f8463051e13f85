using System.CommandLine;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Demo;
using System.Collections.Concurrent;
using System.Diagnostics;
using Med2E3.Native.Models.Imaging;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 generate</c>: one volume and one question in, the answer out (streamed token by token).
/// With <c>--demo</c> it runs the tiny random-weight model and sample volume embedded in the tool.
/// </summary>
public static class GenerateCommand
{
    /// <summary>Everything <c>generate</c> was asked to do, after parsing and validation.</summary>
    public sealed record Settings(
        bool Demo,
        string? CheckpointDir,
        string? VolumePath,
        string? Question,
        string Device,
        int? MaxNewTokens,
        float Temperature,
        float TopP,
        int? Seed,
        VolumeOptions.Values Volume,
        bool Json,
        string? ExplainPath,
        Ops.Cpu.CpuPrecision Precision = Ops.Cpu.CpuPrecision.F32);

    public static Command Create()
    {
        var demo = new Option<bool>("--demo")
        {
            Description = "Run the embedded demo: a tiny model with RANDOM weights and a sample volume, on the CPU",
        };
        var checkpoint = CommonOptions.Checkpoint(required: false);
        var volume = CommonOptions.Volume("Input volume: .npy (M3D, values in [0,1]), .nii or .nii.gz (NIfTI-1/2), a DICOM " +
            "file or a folder of DICOM files");
        var question = new Option<string>("--question", "-q")
        {
            Description = "The question about the volume (the demo has a default)",
            HelpName = "TEXT",
        };
        var device = CommonOptions.Device();
        var precision = CommonOptions.Precision();
        var maxNewTokens = CommonOptions.PositiveInt("--max-new-tokens",
            "Stop after N new tokens (default: prompt + visual tokens + answer ≤ llm_max_length, as in evaluation)");
        var temperature = CommonOptions.Number("--temperature",
            "0 = greedy argmax (the evaluation setting); > 0 samples from softmax(logits / T)", "T", 0f,
            t => t >= 0, "a number ≥ 0");
        var topP = CommonOptions.Number("--top-p",
            "Nucleus sampling: sample among the most likely tokens whose probabilities add up to P (with --temperature > 0)",
            "P", 1f, p => p > 0 && p <= 1, "a number in (0, 1]");
        var seed = CommonOptions.Integer("--seed", "Random seed for sampling (default: a fresh seed each run)", "S",
            int.MinValue);
        var json = CommonOptions.Json();
        var explain = new Option<FileInfo>("--explain")
        {
            Description = "Write a picture of the volume's slices with the TG-IS slice scores: .png, or .jpg / .jpeg",
            HelpName = "PNG|JPG",
        };

        var command = new Command("generate", "Answer a question about a 3D volume (streams the answer, then tokens/s)")
        {
            demo, checkpoint, volume, question, device, precision, maxNewTokens, temperature, topP, seed, json, explain,
        };
        var volumeOptions = VolumeOptions.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(explain) is { } picture && ExplainPicture.FormatOf(picture.Name) is null)
                result.AddError($"--explain {picture.Name}: the picture is written as PNG (.png) or JPEG (.jpg, .jpeg); "
                    + "give the file one of those extensions");
            bool isDemo = result.GetValue(demo);
            if (isDemo)
            {
                if (result.GetResult(checkpoint) is not null)
                    result.AddError("--demo brings its own checkpoint; drop --checkpoint or drop --demo");
                return;
            }
            var missing = new List<string>();
            if (result.GetResult(checkpoint) is null) missing.Add("--checkpoint");
            if (result.GetResult(volume) is null) missing.Add("--volume");
            if (result.GetResult(question) is null) missing.Add("--question");
            if (missing.Count > 0)
                result.AddError($"generate needs {string.Join(", ", missing)} (or --demo)");
        });

        command.SetAction(parse =>
        {
            // --top-p and --seed only change sampling; with greedy decoding they would be silently ignored. Checked
            // here rather than in a validator, so a value that does not parse is reported as that first.
            if (parse.GetValue(temperature) == 0)
            {
                foreach (var samplingOnly in new Option[] { topP, seed })
                    if (parse.GetResult(samplingOnly) is { Implicit: false })
                        throw CliException.Usage($"{samplingOnly.Name} applies to sampling; add --temperature > 0");
            }
            var settings = new Settings(
                Demo: parse.GetValue(demo),
                CheckpointDir: parse.GetValue(checkpoint)?.FullName,
                VolumePath: parse.GetValue(volume),
                Question: parse.GetValue(question),
                Device: parse.GetValue(device) ?? "auto",
                MaxNewTokens: parse.GetValue(maxNewTokens),
                Temperature: parse.GetValue(temperature),
                TopP: parse.GetValue(topP),
                Seed: parse.GetValue(seed),
                Volume: volumeOptions.Get(parse),
                Json: parse.GetValue(json),
                ExplainPath: parse.GetValue(explain)?.FullName,
                Precision: CommonOptions.ParsePrecision(parse.GetValue(precision)));
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                settings.Json, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    /// <summary>What <c>generate --json</c> prints (snake_case keys).</summary>
    public sealed record Report(
        string Answer,
        int[] TokenIds,
        string StopReason,
        int PromptLength,
        float[] SliceScores,
        string Device,
        string Dtype,
        string Checkpoint,
        string Volume,
        string Question,
        bool Demo,
        bool? MatchesReference,
        DecodingReport Decoding,
        TimingsReport TimingsMs,
        double TokensPerSecond,
        IReadOnlyList<string> Warnings);

    public sealed record DecodingReport(string Mode, int? MaxNewTokens, float Temperature, float TopP, int? Seed);

    /// <summary>Milliseconds per stage: load (weights), read_volume (read + preprocess), vision (3D/2D encoders,
    /// BERT, TG-IS), prefill (prompt splice + prefill + first token), decode (all later tokens), total (the command).</summary>
    public sealed record TimingsReport(double Load, double ReadVolume, double Vision, double Prefill, double Decode, double Total);

    /// <summary>
    /// The whole path from a volume file to text: check the device, load the checkpoint, read and preprocess the
    /// volume to the 3D encoder's img_size, then <see cref="Med2E3Model.Generate(Tensor, string, GenerationOptions?)"/> with the answer streamed to
    /// stdout token by token.
    /// </summary>
    public static int Run(Settings settings, Terminal terminal)
    {
        var clock = Stopwatch.StartNew();
        string device = DeviceChoice.Resolve(settings.Demo && settings.Device == "auto" ? "cpu" : settings.Device);

        string checkpointDir, volumePath, question;
        string? bertVocab = null;
        int[]? referenceIds = null;
        string? referenceVolume = null;
        var volumeOptions = settings.Volume;
        int? maxNewTokens = settings.MaxNewTokens;
        if (settings.Demo)
        {
            var (files, _) = terminal.Stage("Unpacking the embedded demo", CommonOptions.ExtractDemo);
            terminal.Note("Demo: a tiny Med-2E3 with RANDOM weights, embedded in med2e3. "
                + "The pipeline is real; the generated text is meaningless.");
            checkpointDir = files.CheckpointDir;
            bertVocab = files.TextVocabPath;
            volumePath = settings.VolumePath ?? files.VolumePath;
            // The demo's CT phantom is raw Hounsfield units: read through its soft-tissue window unless told otherwise.
            if (settings.VolumePath is null && settings.Volume == VolumeOptions.Values.Default)
                volumeOptions = settings.Volume with { Window = files.Window };
            question = settings.Question ?? files.Question;
            maxNewTokens ??= files.MaxNewTokens;
            bool asInTheReference = settings.Question is null && settings.Temperature == 0
                && maxNewTokens == files.MaxNewTokens;
            referenceIds = asInTheReference ? files.ReferenceTokenIds : null;
            referenceVolume = files.ReferenceVolumePath;
        }
        else
        {
            checkpointDir = settings.CheckpointDir!;
            volumePath = settings.VolumePath!;
            question = settings.Question!;
        }
        if (string.IsNullOrWhiteSpace(question))
            throw CliException.Usage("--question is empty");
        if (!Directory.Exists(checkpointDir))
            throw CliException.Checkpoint(File.Exists(checkpointDir)
                ? $"{checkpointDir}: is a file; --checkpoint expects the checkpoint folder"
                : $"{checkpointDir}: checkpoint folder not found");
        VolumeInput.CheckExists(volumePath);
        if (settings.ExplainPath is { } explain && Path.GetDirectoryName(explain) is { } explainDir && !Directory.Exists(explainDir))
            throw CliException.Output($"{explain}: folder {explainDir} does not exist");

        // The volume file is read first, so a bad file is reported before the (long) weight loading.
        var (source, readSeconds) = terminal.Stage($"Reading {Path.GetFileName(Path.TrimEndingDirectorySeparator(volumePath))}",
            () => VolumeInput.ReadFile(volumePath, volumeOptions));
        var (model, loadSeconds) = terminal.Stage($"Loading weights on {device}",
            () => Med2E3Model.Load(checkpointDir, device,
                new Med2E3LoadOptions { BertVocabPath = bertVocab, Precision = settings.Precision }));
        using var _model = model;
        terminal.Detail($"checkpoint {checkpointDir}: compute dtype {model.DType}, llm_max_length {model.MaxLength}");

        var clockPrepare = Stopwatch.StartNew();
        using var input = VolumeInput.Prepare(source, model.Checkpoint.Vision3DConfig.ImgSize, volumeOptions, model.Device);
        readSeconds += clockPrepare.Elapsed.TotalSeconds;
        foreach (string line in VolumeInput.Describe(source, input))
            terminal.Detail(line);
        var warnings = new List<string>(input.Warnings);
        foreach (string warning in input.Warnings)
            terminal.Note($"warning: {warning}");

        var options = new GenerationOptions
        {
            MaxNewTokens = maxNewTokens,
            Temperature = settings.Temperature,
            TopP = settings.TopP,
            Seed = settings.Seed,
        };
        if (!terminal.Json) terminal.Status($"Q: {question}");
        using var volume = input.ToTensor();                                   // (B, 1, D, H, W) on the model's device
        GenerationResult result = Streamed(terminal, onToken => model.Generate(volume, question, options with { OnToken = onToken }));

        var t = result.Timings;
        int newTokens = result.TokenIds.Length;
        double generateSeconds = (t.Prefill + t.Decode).TotalSeconds;
        double tokensPerSecond = t.DecodeSteps > 0 ? t.DecodeTokensPerSecond : newTokens / Math.Max(generateSeconds, 1e-9);
        if (result.StopReason == "length" && settings.MaxNewTokens is null && !settings.Demo)
            warnings.Add($"the answer was cut at the length cap (prompt + visual tokens + answer ≤ {model.MaxLength})");

        // The demo's check against the PyTorch reference: the same model on the reference run's own input volume.
        bool? matches = null;
        if (referenceIds is not null)
        {
            var (reference, _) = terminal.Stage("Checking against the PyTorch reference run", () =>
            {
                var prepared = VolumeInput.Read(referenceVolume!, model.Checkpoint.Vision3DConfig.ImgSize,
                    VolumeOptions.Values.Default, model.Device);
                using var referenceInput = prepared.Input;
                using var tensor = referenceInput.ToTensor();                   // (B, 1, D, H, W)
                return model.Generate(tensor, question, options);
            });
            matches = referenceIds.SequenceEqual(reference.TokenIds);
        }

        if (settings.ExplainPath is { } png)
        {
            ExplainPicture.Render(input.Data, input.Depth, input.Height, input.Width, result.SliceScores, question,
                Printable(result.Text), png);
        }

        if (terminal.Json)
        {
            Json.Write(terminal.Out, new Report(
                Answer: result.Text,
                TokenIds: result.TokenIds,
                StopReason: result.StopReason,
                PromptLength: result.PromptLength,
                SliceScores: result.SliceScores,
                Device: device,
                Dtype: model.DType.ToString(),
                Checkpoint: checkpointDir,
                Volume: volumePath,
                Question: question,
                Demo: settings.Demo,
                MatchesReference: matches,
                Decoding: new DecodingReport(settings.Temperature > 0 ? "sampling" : "greedy", maxNewTokens,
                    settings.Temperature, settings.TopP, settings.Seed),
                TimingsMs: new TimingsReport(Ms(loadSeconds), Ms(readSeconds), t.Vision.TotalMilliseconds,
                    t.Prefill.TotalMilliseconds, t.Decode.TotalMilliseconds, clock.Elapsed.TotalMilliseconds),
                TokensPerSecond: Math.Round(tokensPerSecond, 2),
                Warnings: warnings));
        }
        else
        {
            foreach (string warning in warnings.Skip(input.Warnings.Count))
                terminal.Note($"warning: {warning}");
            terminal.Status($"{newTokens} tokens ({result.StopReason}), {tokensPerSecond:0.0} tokens/s; "
                + $"vision {t.Vision.TotalSeconds:0.000} s, prefill {t.Prefill.TotalSeconds:0.000} s, "
                + $"decode {t.Decode.TotalSeconds:0.000} s; total {clock.Elapsed.TotalSeconds:0.00} s on {device}");
            if (settings.ExplainPath is { } written) terminal.Status($"slice scores drawn to {written}");
            if (matches is { } same)
                terminal.Note(same
                    ? $"On the reference run's input ({Path.GetFileName(referenceVolume)}), the token ids [{string.Join(' ', referenceIds!)}] "
                      + "are exactly those of the PyTorch reference run of this model."
                    : $"warning: on the reference run's input ({Path.GetFileName(referenceVolume)}) the token ids differ "
                      + $"from the PyTorch reference [{string.Join(' ', referenceIds!)}]");
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Runs <paramref name="generate"/> on a worker thread and shows "Encoding …" (a spinner on a terminal) until the
    /// first token arrives — the encoders and the prefill run before it — then writes each token's text to stdout as
    /// it comes. With --json nothing is streamed.
    /// </summary>
    static GenerationResult Streamed(Terminal terminal, Func<Action<GeneratedToken>, GenerationResult> generate)
    {
        if (terminal.Json) return generate(_ => { });
        using var deltas = new BlockingCollection<string>();
        var worker = Task.Run(() =>
        {
            try
            {
                return generate(token => deltas.Add(token.TextDelta));
            }
            finally
            {
                deltas.CompleteAdding();
            }
        });
        string? first = null;
        terminal.Stage("Encoding the volume and the prompt", () =>
        {
            if (!deltas.TryTake(out first, Timeout.Infinite))
                worker.GetAwaiter().GetResult(); // no token at all: finished, or failed (rethrows here)
            return 0;
        });
        foreach (string delta in first is null ? deltas.GetConsumingEnumerable() : deltas.GetConsumingEnumerable().Prepend(first))
        {
            terminal.Out.Write(Printable(delta));
            terminal.Out.Flush();
        }
        var result = worker.GetAwaiter().GetResult();
        terminal.Out.WriteLine();
        return result;
    }

    /// <summary>
    /// The text with control characters (other than newline and tab) shown as their Unicode control pictures
    /// (U+2400…), so random-weight output cannot switch the terminal's character set. --json keeps the exact text.
    /// </summary>
    public static string Printable(string text)
    {
        if (!text.Any(c => char.IsControl(c) && c is not ('\n' or '\t'))) return text;
        var sb = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
            sb.Append(c switch
            {
                '\n' or '\t' => c,
                < ' ' => (char)(0x2400 + c),
                '\u007F' => '\u2421',
                _ when char.IsControl(c) => '\uFFFD',
                _ => c,
            });
        return sb.ToString();
    }

    static double Ms(double seconds) => Math.Round(seconds * 1000, 3);
}
