using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 preprocess</c>: writes exactly what the model sees for a volume (the intensity step, the foreground crop
/// and the resize of every other command) as a NIfTI file whose affine places it over the original, so the two
/// overlay in 3D Slicer or ITK-SNAP; or as the M3D .npy (1, D, H, W).
/// </summary>
public static class PreprocessCommand
{
    public sealed record Settings(string VolumePath, string OutPath, string? CheckpointDir, int[]? Size, bool Bf16,
        bool Json, VolumeOptions.Values Volume);

    /// <summary>What <c>preprocess --json</c> prints (snake_case keys).</summary>
    public sealed record Report(string Volume, string Out, string Format, string? Orientation, double[]? SpacingMm,
        int[] SourceShape, int[] CropBox, int[] Shape, string Intensity, bool Bf16, double[][] Affine,
        IReadOnlyList<string> Warnings);

    public static Command Create()
    {
        var volume = CommonOptions.Volume("The volume: .npy, .nii, .nii.gz, a DICOM file or a folder of DICOM files");
        volume.Required = true;
        var output = new Option<FileInfo>("--out", "-o")
        {
            Description = "Where to write the model input: .nii or .nii.gz (float32, with the affine that overlays the "
                + "original), or .npy ((1, D, H, W) float32, as M3D stores its volumes)",
            Required = true,
            HelpName = "FILE",
        };
        var checkpoint = CommonOptions.Checkpoint(required: false);
        checkpoint.Description = "Checkpoint folder whose vision3d_model/config.json img_size gives the model input size";
        var size = new Option<int[]?>("--size")
        {
            Description = "Model input size D,H,W instead of a checkpoint's (e.g. 32,256,256 for the released model)",
            HelpName = "D,H,W",
            CustomParser = ParseSize,
        };
        var bf16 = new Option<bool>("--bf16")
        {
            Description = "Round the values to bfloat16, as the model casts its input on a GPU (compute dtype bf16)",
        };
        var json = CommonOptions.Json();
        var command = new Command("preprocess",
            "Write the model input of a volume (intensity step, crop, resize) as NIfTI that overlays the original")
        {
            volume, output, checkpoint, size, bf16, json,
        };
        var volumeOptions = VolumeOptions.AddTo(command);
        command.Validators.Add(result =>
        {
            if ((result.GetResult(checkpoint) is null) == (result.GetResult(size) is null))
                result.AddError("preprocess needs the model input size: --checkpoint DIR or --size D,H,W (one of them)");
            if (result.GetValue(output) is { } o && OutputKind(o.Name) is null)
                result.AddError($"--out {o.Name}: the model input is written as .nii, .nii.gz or .npy");
        });
        command.SetAction(parse =>
        {
            var settings = new Settings(parse.GetValue(volume)!, parse.GetValue(output)!.FullName,
                parse.GetValue(checkpoint)?.FullName, parse.GetValue(size), parse.GetValue(bf16), parse.GetValue(json),
                volumeOptions.Get(parse));
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                settings.Json, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    static string? OutputKind(string name) =>
        name.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".nii", StringComparison.OrdinalIgnoreCase)
            ? "nifti"
            : name.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) ? "npy" : null;

    static int[]? ParseSize(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        var parts = text.Split(',');
        var size = new int[parts.Length];
        if (parts.Length != 3 || parts.Select((p, i) =>
                int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out size[i]) && size[i] >= 1 && size[i] <= 4096)
            .Any(ok => !ok))
        {
            result.AddError($"--size expects three whole numbers D,H,W from 1 to 4096 (e.g. 32,256,256), got '{text}'");
            return null;
        }

        return size;
    }

    public static int Run(Settings settings, Terminal terminal)
    {
        int[] imgSize;
        if (settings.CheckpointDir is { } dir)
        {
            string config = Path.Combine(dir, "vision3d_model", "config.json");
            if (!Directory.Exists(dir))
                throw CliException.Checkpoint($"{dir}: checkpoint folder not found");
            if (!File.Exists(config))
                throw CliException.Checkpoint($"{config}: not found (the 3D encoder's config gives the input size)");
            imgSize = M3dClipConfig.Load(config).ImgSize;
        }
        else
        {
            imgSize = settings.Size!;
        }

        if (Path.GetDirectoryName(settings.OutPath) is { } outDir && !Directory.Exists(outDir))
            throw CliException.Output($"{settings.OutPath}: folder {outDir} does not exist");

        var (prepared, _) = terminal.Stage($"Reading {Path.GetFileName(Path.TrimEndingDirectorySeparator(settings.VolumePath))}",
            () => VolumeInput.Read(settings.VolumePath, imgSize, settings.Volume));
        var (source, input) = prepared;
        using var _input = input;
        foreach (string line in VolumeInput.Describe(source, input))
            terminal.Detail(line);

        float[] data = input.Data;
        if (settings.Bf16)
        {
            data = (float[])data.Clone();
            Preprocess.RoundToBf16(data);
        }

        var warnings = new List<string>(input.Warnings);
        var sourceAffine = source.Affine;
        if (sourceAffine is null)
        {
            warnings.Add($"{source.FilePath} carries no geometry: the model input is written with 1 mm voxels in the "
                + "canonical directions");
            sourceAffine = Preprocess.UnitCanonicalAffine();
        }

        var affine = Preprocess.InputAffine(sourceAffine, input.Crop, input.Depth, input.Height, input.Width);
        string kind = OutputKind(settings.OutPath)!;
        // Both writers go through a temporary sibling; a failure is an OutputFileException naming the file (exit 6).
        terminal.Stage($"Writing {Path.GetFileName(settings.OutPath)}", () =>
        {
            if (kind == "npy")
                NpyWriter.Write(settings.OutPath, data, 1, input.Depth, input.Height, input.Width);
            else
                NiftiWriter.WriteWithAffine(settings.OutPath, data, input.Depth, input.Height, input.Width, affine,
                    "Med2E3.Native model input", source.SourceAxisCodes ?? Orientation.CanonicalAxisCodes);
            return 0;
        });

        foreach (string warning in warnings)
            terminal.Note($"warning: {warning}");
        if (terminal.Json)
        {
            Json.Write(terminal.Out, new Report(source.FilePath, settings.OutPath, source.FormatDetails ?? source.Format.ToString(),
                source.SourceAxisCodes, source.SpacingMm is { } s ? [s.D, s.H, s.W] : null,
                [source.Depth, source.Height, source.Width],
                [input.Crop.D0, input.Crop.D1, input.Crop.H0, input.Crop.H1, input.Crop.W0, input.Crop.W1],
                [input.Depth, input.Height, input.Width], input.Intensity, settings.Bf16,
                [.. Enumerable.Range(0, 4).Select(r => Enumerable.Range(0, 4).Select(c => Math.Round(affine[r, c], 6)).ToArray())],
                warnings));
        }
        else
        {
            terminal.Out.WriteLine($"{settings.OutPath}: {input.Depth}×{input.Height}×{input.Width} model input of "
                + $"{source.FilePath} ({input.Intensity}; crop {input.Crop})");
        }

        return ExitCodes.Ok;
    }
}
