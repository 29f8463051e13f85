using Med2E3.Native.Models.Config;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// Options of <see cref="Preprocess.Run(Volume, PreprocessOptions)"/> (spec §1.2). The target size has no default:
/// it is the checkpoint's <c>img_size</c> (<see cref="For(M3dClipConfig)"/>), 32 × 256 × 256 for the released model
/// and 8 × 32 × 32 for the tiny test network.
/// </summary>
/// <param name="TargetDepth">Output depth (slices).</param>
/// <param name="TargetHeight">Output height.</param>
/// <param name="TargetWidth">Output width.</param>
public sealed record PreprocessOptions(int TargetDepth, int TargetHeight, int TargetWidth)
{
    /// <summary>The options for the 3D encoder of a checkpoint: its <c>img_size</c> (D, H, W).</summary>
    public static PreprocessOptions For(M3dClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return ForImageSize(config.ImgSize);
    }

    /// <summary>The options for an <c>img_size</c> (D, H, W) of three positive sizes.</summary>
    /// <exception cref="ArgumentException">not three positive sizes.</exception>
    public static PreprocessOptions ForImageSize(IReadOnlyList<int> imgSize)
    {
        ArgumentNullException.ThrowIfNull(imgSize);
        if (imgSize.Count != 3 || imgSize.Any(n => n < 1))
        {
            throw new ArgumentException($"img_size [{string.Join(", ", imgSize)}] is not a (D, H, W) size", nameof(imgSize));
        }

        return new PreprocessOptions(imgSize[0], imgSize[1], imgSize[2]);
    }

    /// <summary>
    /// How values are brought to [0, 1] (<see cref="IntensityMode"/>); <see cref="IntensityMode.Auto"/> by default,
    /// which reads every file as the reference would.
    /// </summary>
    public IntensityMode Intensity { get; init; } = IntensityMode.Auto;

    /// <summary>
    /// Optional intensity window [Lo, Hi] (e.g. a CT window in Hounsfield units, −160 to 240 for soft tissue): every
    /// value is clamped into it and the volume is then min–max scaled, whatever the format. Not combinable with
    /// <see cref="IntensityMode.AsIs"/>.
    /// </summary>
    public (float Lo, float Hi)? Window { get; init; }

    /// <summary>Round the result to bfloat16 (round to nearest even), as the model does at evaluation (step 5).</summary>
    public bool RoundToBf16 { get; init; }

    /// <summary>
    /// Write the windowed and scaled values into the volume's own <see cref="Volume.Data"/> instead of a copy, so a
    /// large volume needs no second full-size array. The volume then holds the intensity-transformed values.
    /// </summary>
    public bool InPlace { get; init; }

    /// <summary>A copy with the target size set to (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>).</summary>
    public PreprocessOptions WithTarget(int d, int h, int w) =>
        this with { TargetDepth = d, TargetHeight = h, TargetWidth = w };
}
