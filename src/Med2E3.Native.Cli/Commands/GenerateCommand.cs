using System.CommandLine;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Weights;

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
        (float Lower, float Upper)? Window,
        bool Json,
        string? ExplainPath);

    public static Command Create()
    {
        var demo = new Option<bool>("--demo")
        {
            Description = "Run the embedded demo: a tiny model with RANDOM weights and a sample volume, on the CPU",
        };
        var checkpoint = CommonOptions.Checkpoint(required: false);
        var volume = new Option<FileInfo>("--volume")
        {
            Description = "Input volume: .npy (M3D, values in [0,1]), .nii or .nii.gz (NIfTI-1/2)",
            HelpName = "FILE",
        };
        var question = new Option<string>("--question", "-q")
        {
            Description = "The question about the volume (the demo has a default)",
            HelpName = "TEXT",
        };
        var device = CommonOptions.Device();
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
        var window = CommonOptions.Window();
        var json = CommonOptions.Json();
        var explain = new Option<FileInfo>("--explain")
        {
            Description = "Write a PNG of the volume's slices with the TG-IS slice scores",
            HelpName = "PNG",
        };

        var command = new Command("generate", "Answer a question about a 3D volume (streams the answer, then tokens/s)")
        {
            demo, checkpoint, volume, question, device, maxNewTokens, temperature, topP, seed, window, json, explain,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(topP) is not null && result.GetValue(temperature) == 0)
                result.AddError("--top-p applies to sampling; add --temperature > 0");
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
            var settings = new Settings(
                Demo: parse.GetValue(demo),
                CheckpointDir: parse.GetValue(checkpoint)?.FullName,
                VolumePath: parse.GetValue(volume)?.FullName,
                Question: parse.GetValue(question),
                Device: parse.GetValue(device) ?? "auto",
                MaxNewTokens: parse.GetValue(maxNewTokens),
                Temperature: parse.GetValue(temperature),
                TopP: parse.GetValue(topP),
                Seed: parse.GetValue(seed),
                Window: parse.GetValue(window),
                Json: parse.GetValue(json),
                ExplainPath: parse.GetValue(explain)?.FullName);
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                settings.Json, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    public static int Run(Settings settings, Terminal terminal)
    {
        string device = DeviceChoice.Resolve(settings.Demo && settings.Device == "auto" ? "cpu" : settings.Device);

        string checkpointDir, volumePath, question;
        int? maxNewTokens = settings.MaxNewTokens;
        if (settings.Demo)
        {
            var (files, _) = terminal.Stage("Unpacking the embedded demo",
                () => CliException.Guard(ExitCodes.NotAvailable, "embedded demo", () => DemoAssets.Extract()));
            terminal.Note("Demo: a tiny Med-2E3 with RANDOM weights, embedded in med2e3. "
                + "The pipeline is real; the generated text is meaningless.");
            checkpointDir = files.CheckpointDir;
            volumePath = settings.VolumePath ?? files.VolumePath;
            question = settings.Question ?? files.Question;
            maxNewTokens ??= files.MaxNewTokens;
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
        if (Directory.Exists(volumePath))
            throw CliException.BadInput($"{volumePath}: is a folder; --volume expects a .npy, .nii or .nii.gz file");
        if (!File.Exists(volumePath))
            throw CliException.BadInput($"{volumePath}: volume file not found");
        if (settings.ExplainPath is { } explain && Path.GetDirectoryName(explain) is { } explainDir && !Directory.Exists(explainDir))
            throw CliException.Output($"{explain}: folder {explainDir} does not exist");

        var (checkpoint, _) = terminal.Stage("Checking the checkpoint",
            () => CliException.Guard(ExitCodes.Checkpoint, checkpointDir, () => Med2E3Checkpoint.Open(checkpointDir)));
        var ((source, input), _) = terminal.Stage($"Reading {Path.GetFileName(volumePath)}",
            () => VolumeInput.Read(volumePath, checkpoint.Vision3DConfig.ImgSize, settings.Window));
        terminal.Detail($"volume {source.Depth}×{source.Height}×{source.Width} ({source.Format}), "
            + $"foreground {input.Crop}, resized to {input.Depth}×{input.Height}×{input.Width}");
        foreach (string warning in input.Warnings)
            terminal.Note($"warning: {warning}");

        terminal.Detail($"device {device}; checkpoint {checkpointDir}; volume {volumePath}");
        throw CliException.NotAvailable(
            "generate needs the Med-2E3 network (Med2E3Model in src/Med2E3.Native.Models/Multimodal), which this build does not include yet");
    }
}
