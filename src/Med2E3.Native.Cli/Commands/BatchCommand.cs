using System.CommandLine;
using Med2E3.Native.Cli.Output;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 batch</c>: answers every question of an M3D-style JSON file (<c>vision3d</c>, <c>question</c>,
/// <c>conversations</c>) and writes the answers, with the official scores where reference answers are given.
/// </summary>
public static class BatchCommand
{
    public sealed record Settings(
        string CheckpointDir, string DataPath, string VolumeRoot, string OutPath, string Device, int? MaxNewTokens);

    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint(required: true);
        var data = new Option<FileInfo>("--data")
        {
            Description = "M3D-style JSON: a list of {\"vision3d\": path, \"question\": text, \"conversations\": [...]}",
            Required = true,
            HelpName = "FILE.json",
        };
        var volumeRoot = new Option<DirectoryInfo>("--volume-root")
        {
            Description = "Folder the vision3d paths are relative to",
            Required = true,
            HelpName = "DIR",
        };
        var output = new Option<FileInfo>("--out", "-o")
        {
            Description = "Where to write the answers and scores (JSON)",
            Required = true,
            HelpName = "FILE.json",
        };
        var device = CommonOptions.Device();
        var maxNewTokens = CommonOptions.PositiveInt("--max-new-tokens",
            "Stop each answer after N new tokens (default: the llm_max_length cap, as in evaluation)");

        var command = new Command("batch", "Answer every question of an M3D-style JSON file; score against the reference answers")
        {
            checkpoint, data, volumeRoot, output, device, maxNewTokens,
        };
        command.SetAction(parse =>
        {
            var settings = new Settings(
                parse.GetValue(checkpoint)!.FullName, parse.GetValue(data)!.FullName, parse.GetValue(volumeRoot)!.FullName,
                parse.GetValue(output)!.FullName, parse.GetValue(device) ?? "auto", parse.GetValue(maxNewTokens));
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                json: false, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    public static int Run(Settings settings, Terminal terminal)
    {
        string device = DeviceChoice.Resolve(settings.Device);
        if (!File.Exists(settings.DataPath))
            throw CliException.BadInput($"{settings.DataPath}: data file not found");
        if (!Directory.Exists(settings.VolumeRoot))
            throw CliException.BadInput($"{settings.VolumeRoot}: volume root folder not found");
        if (!Directory.Exists(settings.CheckpointDir))
            throw CliException.Checkpoint($"{settings.CheckpointDir}: checkpoint folder not found");
        if (Path.GetDirectoryName(settings.OutPath) is { } outDir && !Directory.Exists(outDir))
            throw CliException.Output($"{settings.OutPath}: folder {outDir} does not exist");

        terminal.Detail($"device {device}");
        throw CliException.NotAvailable(
            "batch needs the Med-2E3 network (Med2E3Model) and the M3D data reader (Models/Evaluation), which this build does not include yet");
    }
}
