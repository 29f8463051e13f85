using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Cli.Commands;

/// <summary>Options shared by several commands, with their parsing and validation rules.</summary>
public static class CommonOptions
{
    /// <summary><c>--verbose</c>: stack traces on errors and per-stage details. Applies to every command.</summary>
    public static Option<bool> Verbose() => new("--verbose", "-v")
    {
        Description = "Print details of each stage, and the stack trace when something fails",
        Recursive = true,
    };

    /// <summary><c>--volume</c>: a volume file or a DICOM folder.</summary>
    public static Option<string> Volume(string description) => new("--volume")
    {
        Description = description,
        HelpName = "FILE|DIR",
        CustomParser = result => result.Tokens.Count > 0 ? Path.GetFullPath(result.Tokens[0].Value) : null,
    };

    public static Option<bool> NanToZero() => new("--nan-to-zero")
    {
        Description = "Replace NaN or infinite voxels with 0 (with a warning) instead of refusing the volume",
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write one JSON document to stdout (for scripts); no progress output",
    };

    /// <summary>
    /// <c>--precision f32|bf16</c>: how the CPU computes the products of frozen weights (f32, the definition, or bf16 ×
    /// bf16 → f32). Another value is a usage error.
    /// </summary>
    public static Option<string> Precision()
    {
        var option = new Option<string>("--precision")
        {
            Description = "CPU matrix products: f32 (default, exact) or bf16 (bf16 × bf16 → f32, faster; oneDNN when present)",
            DefaultValueFactory = _ => "f32",
        };
        option.AcceptOnlyFromAmong("f32", "bf16");
        return option;
    }

    /// <summary>The <see cref="Ops.Cpu.CpuPrecision"/> named by a <c>--precision</c> value.</summary>
    public static Ops.Cpu.CpuPrecision ParsePrecision(string? value) => value switch
    {
        null or "f32" => Ops.Cpu.CpuPrecision.F32,
        "bf16" => Ops.Cpu.CpuPrecision.Bf16,
        _ => throw CliException.Usage($"--precision: expected f32 or bf16, got '{value}'"),
    };

    public static Option<string> Device(string defaultValue = "auto")
    {
        var option = new Option<string>("--device")
        {
            Description = "Where to run: auto (CUDA when a GPU is present, else CPU), cpu or cuda",
            DefaultValueFactory = _ => defaultValue,
        };
        option.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        return option;
    }

    /// <summary><c>--data</c>: an M3D-style JSON file (the official data format).</summary>
    public static Option<FileInfo> M3DData(string description) => new("--data")
    {
        Description = description,
        Required = true,
        HelpName = "FILE.json",
    };

    /// <summary><c>--volume-root</c>: the folder an M3D data file's vision3d paths are relative to.</summary>
    public static Option<DirectoryInfo> VolumeRoot() => new("--volume-root")
    {
        Description = "Folder the vision3d paths are relative to",
        Required = true,
        HelpName = "DIR",
    };

    /// <summary>
    /// The paths of a run over M3D data: the data file and volume root must exist (exit 3), the checkpoint folder
    /// too (exit 4).
    /// </summary>
    public static void CheckM3DPaths(string dataPath, string volumeRoot, string checkpointDir)
    {
        if (!File.Exists(dataPath))
            throw CliException.BadInput($"{dataPath}: data file not found");
        if (!Directory.Exists(volumeRoot))
            throw CliException.BadInput($"{volumeRoot}: volume root folder not found");
        if (!Directory.Exists(checkpointDir))
            throw CliException.Checkpoint($"{checkpointDir}: checkpoint folder not found");
    }

    /// <summary>The items of an M3D data file; a malformed or empty file is a one-line error (exit 3).</summary>
    public static List<M3DItem> LoadM3DItems(string dataPath)
    {
        List<M3DItem> items = M3DDataset.Load(dataPath);
        if (items.Count == 0)
            throw CliException.BadInput($"{dataPath}: the data file holds no items");
        return items;
    }

    /// <summary><c>--overwrite</c>: replace outputs that exist (they are refused otherwise).</summary>
    public static Option<bool> Overwrite(string description) => new("--overwrite") { Description = description };

    /// <summary>
    /// <c>--max-voxels N</c>: the largest volume read, checked from the file's header before anything is allocated
    /// (default <see cref="VolumeReadOptions.DefaultMaxVoxels"/>).
    /// </summary>
    public static Option<long?> MaxVoxels() => new("--max-voxels")
    {
        Description = $"Refuse volumes with more voxels than N, checked from the header before reading (default "
            + $"{VolumeReadOptions.DefaultMaxVoxels.ToString("N0", CultureInfo.InvariantCulture)}: 1024 × 512 × 512)",
        HelpName = "N",
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) || n < 1
                || n > VolumeReadOptions.HardMaxVoxels)
            {
                result.AddError($"--max-voxels expects a whole number from 1 to {VolumeReadOptions.HardMaxVoxels}, got '{text}'");
                return null;
            }
            return n;
        },
    };

    /// <summary>
    /// An output file about to be written: its folder must exist, it must not be a folder, and an existing file is
    /// refused unless <paramref name="overwrite"/> (exit code 6).
    /// </summary>
    public static void CheckOutputFile(string path, bool overwrite)
    {
        if (AtomicFile.IsDevice(path))
            return;                                            // /dev/stdout and the like are written directly
        if (Directory.Exists(path))
            throw CliException.Output($"{path}: is a folder, not a file");
        if (Path.GetDirectoryName(path) is { } dir && !Directory.Exists(dir))
            throw CliException.Output($"{path}: folder {dir} does not exist");
        if (File.Exists(path) && !overwrite)
            throw CliException.Output($"{path}: already exists; add --overwrite to replace it");
    }

    /// <summary>Unpacks the embedded demo; a failure (no embedded files, an unwritable temp folder) is exit code 7.</summary>
    public static DemoFiles ExtractDemo()
    {
        try
        {
            return DemoAssets.Extract();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw CliException.NotAvailable($"the embedded demo cannot be unpacked: {CliException.OneLine(e.Message)}", e);
        }
    }

    public static Option<DirectoryInfo> Checkpoint(bool required) => new("--checkpoint")
    {
        Description = "Med-2E3 checkpoint folder (the release layout: args/, llm/, vision2d_*/, vision3d_*/, tokenizer files)",
        Required = required,
        HelpName = "DIR",
    };

    /// <summary>A positive integer option (e.g. <c>--max-new-tokens</c>); 0, negatives and non-numbers are usage errors.</summary>
    public static Option<int?> PositiveInt(string name, string description, string helpName = "N") =>
        Integer(name, description, helpName, minimum: 1);

    /// <summary>An optional whole-number option no smaller than <paramref name="minimum"/>.</summary>
    public static Option<int?> Integer(string name, string description, string helpName, int minimum) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < minimum)
            {
                result.AddError(minimum == int.MinValue
                    ? $"{name} expects a whole number, got '{text}'"
                    : $"{name} expects a whole number ≥ {minimum}, got '{text}'");
                return null;
            }
            return n;
        },
    };

    /// <summary>A number option checked against a rule, e.g. <c>--temperature</c> (≥ 0) or <c>--top-p</c> (0, 1].</summary>
    public static Option<float> Number(string name, string description, string helpName, float defaultValue,
        Func<float, bool> valid, string rule) => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float x) || !float.IsFinite(x) || !valid(x))
            {
                result.AddError($"{name} expects {rule}, got '{text}'");
                return defaultValue;
            }
            return x;
        },
    };

    /// <summary>
    /// Parses <c>LO,HI</c> (two numbers, LO &lt; HI), e.g. <c>--window -160,240</c> for a CT soft-tissue window in
    /// Hounsfield units.
    /// </summary>
    public static Option<(float Lower, float Upper)?> Window()
    {
        var option = new Option<(float Lower, float Upper)?>("--window")
        {
            Description = "Intensity window LO,HI (e.g. -160,240 in Hounsfield units for CT soft tissue): values are clamped "
                + "to it, then min–max scaled to [0, 1]",
            HelpName = "LO,HI",
            CustomParser = ParseWindow,
        };
        return option;
    }

    static (float Lower, float Upper)? ParseWindow(ArgumentResult result)
    {
        if (result.Tokens.Count == 0) return null;
        string text = result.Tokens[0].Value;
        string[] parts = text.Split(',');
        if (parts.Length != 2
            || !float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out float lower)
            || !float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out float upper)
            || !float.IsFinite(lower) || !float.IsFinite(upper))
        {
            result.AddError($"--window expects two numbers LO,HI (e.g. -160,240), got '{text}'");
            return null;
        }
        if (!(lower < upper))
        {
            result.AddError($"--window needs LO < HI, got {text}");
            return null;
        }
        return (lower, upper);
    }
}
