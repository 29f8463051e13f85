using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// The options of every command that reads a volume (generate, batch, finetune, bench, preprocess), declared once so
/// that the same file becomes the same model input whichever command reads it: <c>--intensity</c>,
/// <c>--window</c>, <c>--frame</c>, <c>--series</c>, <c>--nan-to-zero</c>, <c>--max-voxels</c>.
/// </summary>
public sealed class VolumeOptions
{
    /// <summary>What the options say, after parsing; <see cref="Default"/> when none is given.</summary>
    /// <param name="Intensity">How values are brought to [0, 1] (<see cref="IntensityMode"/>).</param>
    /// <param name="Window">CT window LO, HI (clamp, then min–max), or null.</param>
    /// <param name="Frame">The frame of a 4-D NIfTI file, or null.</param>
    /// <param name="Series">The DICOM series (SeriesInstanceUID or number) of a folder holding several, or null.</param>
    /// <param name="NanToZero">Replace NaN or infinite voxels with 0 instead of refusing the file.</param>
    /// <param name="MaxVoxels">The largest volume read, checked from the header (null: the reader's default).</param>
    public sealed record Values(IntensityMode Intensity, (float Lower, float Upper)? Window, int? Frame, string? Series,
        bool NanToZero, long? MaxVoxels = null)
    {
        /// <summary>No option given: read every file as the reference would.</summary>
        public static Values Default { get; } = new(IntensityMode.Auto, null, null, null, false);

        /// <summary>The reader's options.</summary>
        public VolumeReadOptions ReadOptions => new()
        {
            NonFinite = NanToZero ? NonFinitePolicy.ReplaceWithZero : NonFinitePolicy.Error,
            Frame = Frame,
            Series = Series,
            MaxVoxels = MaxVoxels ?? VolumeReadOptions.DefaultMaxVoxels,
        };

        /// <summary>
        /// Preprocessing to <paramref name="imgSize"/> (D, H, W), in the volume's own array (the commands read each
        /// volume for one use, so it needs no second full-size copy).
        /// </summary>
        public PreprocessOptions Preprocess(IReadOnlyList<int> imgSize) =>
            PreprocessOptions.ForImageSize(imgSize) with
            {
                Intensity = Intensity,
                Window = Window is { } w ? (w.Lower, w.Upper) : null,
                InPlace = true,
            };
    }

    private VolumeOptions()
    {
    }

    /// <summary><c>--intensity auto|as-is|minmax</c>.</summary>
    public Option<string> Intensity { get; } = IntensityOption();

    /// <summary><c>--window LO,HI</c>.</summary>
    public Option<(float Lower, float Upper)?> Window { get; } = CommonOptions.Window();

    /// <summary><c>--frame N</c>.</summary>
    public Option<int?> Frame { get; } = CommonOptions.Integer("--frame",
        "The frame (from 0) of a 4-D NIfTI file to read (default: the file must hold one volume)", "N", minimum: 0);

    /// <summary><c>--series UID|N</c>.</summary>
    public Option<string> Series { get; } = new("--series")
    {
        Description = "The DICOM series to read when the folder holds several: its SeriesInstanceUID or its number "
            + "in the list the error shows",
        HelpName = "UID|N",
    };

    /// <summary><c>--nan-to-zero</c>.</summary>
    public Option<bool> NanToZero { get; } = CommonOptions.NanToZero();

    /// <summary><c>--max-voxels N</c>.</summary>
    public Option<long?> MaxVoxels { get; } = CommonOptions.MaxVoxels();

    /// <summary>Declares the options on <paramref name="command"/> and checks them together.</summary>
    public static VolumeOptions AddTo(Command command)
    {
        var o = new VolumeOptions();
        command.Options.Add(o.Intensity);
        command.Options.Add(o.Window);
        command.Options.Add(o.Frame);
        command.Options.Add(o.Series);
        command.Options.Add(o.NanToZero);
        command.Options.Add(o.MaxVoxels);
        command.Validators.Add(result =>
        {
            if (result.GetResult(o.Window) is not null && result.GetValue(o.Intensity) == "as-is")
                result.AddError("--window scales the volume to [0, 1]; it cannot be combined with --intensity as-is");
        });
        return o;
    }

    /// <summary>The parsed values.</summary>
    public Values Get(ParseResult parse) => new(
        parse.GetValue(Intensity) switch
        {
            "as-is" => IntensityMode.AsIs,
            "minmax" => IntensityMode.MinMax,
            _ => IntensityMode.Auto,
        },
        parse.GetValue(Window),
        parse.GetValue(Frame),
        parse.GetValue(Series),
        parse.GetValue(NanToZero),
        parse.GetValue(MaxVoxels));

    static Option<string> IntensityOption()
    {
        var option = new Option<string>("--intensity")
        {
            Description = "How voxel values become the model's [0, 1]: auto (.npy in [0, 1] kept as M3D stores them, any "
                + "other volume min–max scaled), as-is (unchanged) or minmax (always scaled)",
            HelpName = "auto|as-is|minmax",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "as-is", "minmax");
        return option;
    }

    /// <summary>A number as the messages print it (invariant culture, no trailing zeros).</summary>
    internal static string Num(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
}
