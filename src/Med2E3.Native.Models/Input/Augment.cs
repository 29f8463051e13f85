using Med2E3.Native.Tensors;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// Settings of the training-time augmentations (spec §9). <see cref="Enabled"/> false (the default) is evaluation:
/// the volume passes through unchanged. <see cref="Training"/> is the fine-tuning recipe.
/// </summary>
public sealed record AugmentOptions
{
    /// <summary>Apply the augmentations at all (training only).</summary>
    public bool Enabled { get; init; }

    /// <summary>RandRotate90 probability (H–W plane, k ∈ {1, 2, 3}).</summary>
    public double Rotate90Probability { get; init; } = 0.5;

    /// <summary>RandFlip probability, drawn independently for the D, H and W axes.</summary>
    public double FlipProbability { get; init; } = 0.1;

    /// <summary>RandScaleIntensity probability.</summary>
    public double ScaleIntensityProbability { get; init; } = 0.5;

    /// <summary>RandScaleIntensity range: x·(1 + f), f ~ U(−r, r).</summary>
    public double ScaleIntensityRange { get; init; } = 0.1;

    /// <summary>RandShiftIntensity probability.</summary>
    public double ShiftIntensityProbability { get; init; } = 0.5;

    /// <summary>RandShiftIntensity range: x + o, o ~ U(−r, r).</summary>
    public double ShiftIntensityRange { get; init; } = 0.1;

    /// <summary>The fine-tuning recipe's augmentations (spec §9).</summary>
    public static AugmentOptions Training { get; } = new() { Enabled = true };
}

/// <summary>What <see cref="Augment.Apply(float[], int, int, int, SeededRandom, AugmentOptions?)"/> did, for logging.</summary>
/// <param name="Rotate90K">Quarter turns in the H–W plane (0 = not rotated).</param>
/// <param name="FlipDepth">Flipped along D.</param>
/// <param name="FlipHeight">Flipped along H.</param>
/// <param name="FlipWidth">Flipped along W.</param>
/// <param name="ScaleFactor">f of x·(1 + f), or null when not applied.</param>
/// <param name="ShiftOffset">o of x + o, or null when not applied.</param>
public sealed record AugmentRecord(int Rotate90K, bool FlipDepth, bool FlipHeight, bool FlipWidth, double? ScaleFactor,
    double? ShiftOffset)
{
    /// <summary>Nothing applied.</summary>
    public static AugmentRecord None { get; } = new(0, false, false, false, null, null);

    /// <summary>True when no augmentation was applied.</summary>
    public bool IsIdentity => this == None;

    /// <summary>"rot90 k=1, flip D, scale f=+0.0312" or "none".</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (Rotate90K != 0) parts.Add($"rot90 k={Rotate90K}");
        if (FlipDepth) parts.Add("flip D");
        if (FlipHeight) parts.Add("flip H");
        if (FlipWidth) parts.Add("flip W");
        if (ScaleFactor is double f) parts.Add($"scale f={f:+0.0000;-0.0000}");
        if (ShiftOffset is double o) parts.Add($"shift o={o:+0.0000;-0.0000}");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}

/// <summary>A volume (D, H, W) after augmentation; H and W swap after an odd number of quarter turns.</summary>
/// <param name="Data">Voxels (D, H, W) row-major (a new array; the input is never modified).</param>
/// <param name="Depth">D.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
/// <param name="Applied">What was applied.</param>
public sealed record AugmentResult(float[] Data, int Depth, int Height, int Width, AugmentRecord Applied);

/// <summary>
/// The fine-tuning recipe's training-only augmentations (spec §9), applied after CropForeground + trilinear resize,
/// in this order, as MONAI on a (C, D, H, W) image with C = 1:
/// <list type="number">
/// <item><c>RandRotate90(prob=0.5, max_k=3, spatial_axes=(1, 2))</c>: k ~ {1, 2, 3} uniform (drawn every time, as
/// MONAI does), then applied with probability p; rotation as numpy <c>rot90(x, k, axes=(H, W))</c>:
/// out[d, i, j] = x[d, j, W − 1 − i] for k = 1.</item>
/// <item><c>RandFlip(prob=0.1, spatial_axis=a)</c> for a = D, H, W, each with its own draw.</item>
/// <item><c>RandScaleIntensity(factors=0.1, prob=0.5)</c>: x·(1 + f), f ~ U(−0.1, 0.1) drawn only when applied.</item>
/// <item><c>RandShiftIntensity(offsets=0.1, prob=0.5)</c>: x + o, o ~ U(−0.1, 0.1) drawn only when applied.</item>
/// </list>
/// A transform is applied when u &lt; p (u ~ U[0, 1)). All draws come from one <see cref="SeededRandom"/> in the
/// order above, so a seed fixes the result (it does not reproduce MONAI's own random streams). Intensity arithmetic
/// is float32 with the factor rounded to float32 first, as torch does for a float32 tensor and a Python scalar.
/// </summary>
public static class Augment
{
    /// <summary>Augments <paramref name="data"/> (D, H, W) with a generator seeded by <paramref name="seed"/>.</summary>
    public static AugmentResult Apply(float[] data, int depth, int height, int width, long seed, AugmentOptions? options = null) =>
        Apply(data, depth, height, width, new SeededRandom(seed), options);

    /// <summary>
    /// Augments <paramref name="data"/> (D, H, W) drawing from <paramref name="rng"/>. Options null or not enabled:
    /// returns a copy, nothing drawn, <see cref="AugmentRecord.None"/>.
    /// </summary>
    public static AugmentResult Apply(float[] data, int depth, int height, int width, SeededRandom rng, AugmentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(rng);
        CheckShape(data, depth, height, width);
        var x = (float[])data.Clone();
        if (options is not { Enabled: true }) return new AugmentResult(x, depth, height, width, AugmentRecord.None);

        int k = (int)rng.NextLong(0, 3) + 1;                                          // MONAI draws k first
        bool rotate = rng.NextDouble() < options.Rotate90Probability;
        if (rotate) x = Rotate90(x, depth, ref height, ref width, k);
        bool flipD = rng.NextDouble() < options.FlipProbability;
        if (flipD) x = Flip(x, depth, height, width, 0);
        bool flipH = rng.NextDouble() < options.FlipProbability;
        if (flipH) x = Flip(x, depth, height, width, 1);
        bool flipW = rng.NextDouble() < options.FlipProbability;
        if (flipW) x = Flip(x, depth, height, width, 2);
        double? scale = null, shift = null;
        if (rng.NextDouble() < options.ScaleIntensityProbability)
        {
            scale = Uniform(rng, options.ScaleIntensityRange);
            ScaleIntensity(x, scale.Value);
        }
        if (rng.NextDouble() < options.ShiftIntensityProbability)
        {
            shift = Uniform(rng, options.ShiftIntensityRange);
            ShiftIntensity(x, shift.Value);
        }
        return new AugmentResult(x, depth, height, width, new AugmentRecord(rotate ? k : 0, flipD, flipH, flipW, scale, shift));
    }

    /// <summary>
    /// numpy <c>rot90(x, k, axes=(H, W))</c> on (D, H, W): k = 1 gives out[d, i, j] = x[d, j, W − 1 − i] with shape
    /// (D, W, H); k is taken mod 4 (negative turns the other way). <paramref name="height"/> and
    /// <paramref name="width"/> are updated to the output's.
    /// </summary>
    public static float[] Rotate90(float[] x, int depth, ref int height, ref int width, int k)
    {
        CheckShape(x, depth, height, width);
        k = ((k % 4) + 4) % 4;
        var cur = (float[])x.Clone();
        for (int turn = 0; turn < k; turn++)
        {
            int h = height, w = width;
            var next = new float[cur.Length];
            for (int d = 0; d < depth; d++)
            {
                int plane = d * h * w;
                for (int i = 0; i < w; i++)                                           // output row (size W)
                {
                    for (int j = 0; j < h; j++)                                       // output column (size H)
                    {
                        next[plane + i * h + j] = cur[plane + j * w + (w - 1 - i)];
                    }
                }
            }
            cur = next;
            (height, width) = (w, h);
        }
        return cur;
    }

    /// <summary>Reverses (D, H, W) data along <paramref name="axis"/> (0 = D, 1 = H, 2 = W), as numpy <c>flip</c>.</summary>
    public static float[] Flip(float[] x, int depth, int height, int width, int axis)
    {
        CheckShape(x, depth, height, width);
        if (axis is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(axis), axis, "Augment.cs: flip axis must be 0 (D), 1 (H) or 2 (W)");
        var y = new float[x.Length];
        for (int d = 0; d < depth; d++)
        {
            for (int h = 0; h < height; h++)
            {
                for (int w = 0; w < width; w++)
                {
                    int sd = axis == 0 ? depth - 1 - d : d;
                    int sh = axis == 1 ? height - 1 - h : h;
                    int sw = axis == 2 ? width - 1 - w : w;
                    y[(d * height + h) * width + w] = x[(sd * height + sh) * width + sw];
                }
            }
        }
        return y;
    }

    /// <summary>In place x·(1 + f), in float32 with (1 + f) rounded to float32 (MONAI ScaleIntensity with factor).</summary>
    public static void ScaleIntensity(Span<float> x, double factor)
    {
        float m = (float)(1.0 + factor);
        for (int i = 0; i < x.Length; i++) x[i] *= m;
    }

    /// <summary>In place x + o, in float32 with o rounded to float32 (MONAI ShiftIntensity).</summary>
    public static void ShiftIntensity(Span<float> x, double offset)
    {
        float o = (float)offset;
        for (int i = 0; i < x.Length; i++) x[i] += o;
    }

    /// <summary>U(−r, r), as numpy's uniform(low, high) = low + (high − low)·u.</summary>
    private static double Uniform(SeededRandom rng, double range) => -range + 2 * range * rng.NextDouble();

    private static void CheckShape(float[] x, int depth, int height, int width)
    {
        if (depth <= 0 || height <= 0 || width <= 0 || (long)depth * height * width != x.Length)
        {
            throw new ArgumentException($"Augment.cs: {x.Length} voxels do not form a {depth} x {height} x {width} volume");
        }
    }
}
