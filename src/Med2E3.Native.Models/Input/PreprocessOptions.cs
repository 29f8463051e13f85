namespace Med2E3.Native.Models.Input;

/// <summary>Options of <see cref="Preprocess.Run(Volume, PreprocessOptions)"/> (spec §1.2).</summary>
public sealed record PreprocessOptions
{
    /// <summary>The released model's input size, 32 × 256 × 256.</summary>
    public static PreprocessOptions Default { get; } = new();

    /// <summary>Output depth (slices). 32 for the released model; the tiny test network uses 8.</summary>
    public int TargetDepth { get; init; } = 32;

    /// <summary>Output height. 256 for the released model; the tiny test network uses 32.</summary>
    public int TargetHeight { get; init; } = 256;

    /// <summary>Output width. 256 for the released model; the tiny test network uses 32.</summary>
    public int TargetWidth { get; init; } = 256;

    /// <summary>
    /// Optional intensity window [Lo, Hi] (e.g. CT Hounsfield units −1000, 1000): every value is clamped into it
    /// before normalisation. Null (the default, as in the reference) leaves values as they are.
    /// </summary>
    public (float Lo, float Hi)? Window { get; init; }

    /// <summary>
    /// Whole-volume min–max normalisation to [0,1]. Null (default): on for NIfTI, off for .npy, whose M3D files are
    /// already normalised (normalising them again would change nothing but float rounding when min = 0 and max = 1,
    /// and would differ from the reference otherwise). True or false forces it.
    /// </summary>
    public bool? MinMaxNormalize { get; init; }

    /// <summary>Round the result to bfloat16 (round to nearest even), as the model does at evaluation (step 5).</summary>
    public bool RoundToBf16 { get; init; }

    /// <summary>A copy with the target size set to (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>).</summary>
    public PreprocessOptions WithTarget(int d, int h, int w) =>
        this with { TargetDepth = d, TargetHeight = h, TargetWidth = w };
}
