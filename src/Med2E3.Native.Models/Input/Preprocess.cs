using System.Globalization;
using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Tensors;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// The Med-2E3 evaluation transform (spec §1.2) as plain loops on float32 (D, H, W) arrays: the CPU reference that a
/// device version must reproduce. Every step is also a separate static function with a span signature.
/// </summary>
/// <remarks>
/// <see cref="Run(Volume, PreprocessOptions)"/> applies, in order:
/// <list type="number">
/// <item>the intensity step (<see cref="PreprocessOptions.Intensity"/>): an optional window (clamp to [lo, hi], for
/// raw CT in Hounsfield units; not in the reference), then min–max scaling to [0, 1] where the mode and the format
/// call for it (.npy files of M3D are already normalised, §1.1, and are kept as they are), then, for a MONOCHROME1
/// DICOM volume, 1 − x so that bright means what it means on a viewer;</item>
/// <item>CropForeground: the bounding box of voxels &gt; 0, margin 0 (MONAI defaults). A volume with no voxel &gt; 0,
/// where the reference fails, keeps its full extent and gets a warning;</item>
/// <item>trilinear resize to the target size with align_corners = False (PyTorch <c>F.interpolate</c> semantics),
/// an exact copy when the size already matches;</item>
/// <item>optionally, rounding to bfloat16.</item>
/// </list>
/// Memory: the intensity step is applied voxel by voxel while the box is found and the crop is taken, so besides the
/// input only the crop (or nothing, with <see cref="PreprocessOptions.InPlace"/>) and the output are allocated.
/// </remarks>
public static class Preprocess
{
    /// <summary>The floor of the min–max denominator: x / max(max, 1e-8).</summary>
    public const float NormalizeFloor = 1e-8f;

    /// <summary>The warning added when a volume has no foreground voxel.</summary>
    public const string NoForegroundWarning =
        "no voxel is > 0, so there is no foreground to crop: the whole volume was resized instead";

    /// <summary>Preprocesses a volume read from disk into the model's input, on the host.</summary>
    public static PreprocessResult Run(Volume volume, PreprocessOptions options)
    {
        ArgumentNullException.ThrowIfNull(volume);
        var plan = Plan(volume.Data, volume.Depth, volume.Height, volume.Width, volume.Format, volume.DisplayInverted,
            options, volume.Warnings, volume.Data);
        return Resized(volume.Data, volume.Depth, volume.Height, volume.Width, plan, options);
    }

    /// <summary>
    /// Preprocesses a volume with the crop + resize on <paramref name="device"/>: the intensity step and the
    /// foreground box run on the host (cheap O(N) passes), the cropped volume is uploaded once, and the
    /// ResizeTrilinear3d op (<c>F.ResizeTrilinear3d</c>, kernels/resize.cu on CUDA) resizes it there; the result's
    /// tensor stays on the device. On the CPU this is <see cref="Run(Volume, PreprocessOptions)"/> (the CPU op is that
    /// same reference loop).
    /// </summary>
    public static PreprocessResult Run(Volume volume, Device device, PreprocessOptions options)
    {
        ArgumentNullException.ThrowIfNull(volume);
        if (device.Kind == DeviceKind.Cpu)
        {
            return Run(volume, options);
        }

        int d = volume.Depth, h = volume.Height, w = volume.Width;
        var plan = Plan(volume.Data, d, h, w, volume.Format, volume.DisplayInverted, options, volume.Warnings, volume.Data);
        var box = plan.Box;
        using var scope = TensorScope.Begin();
        var host = Tensor.Empty([1, 1, box.Depth, box.Height, box.Width], DType.F32, Device.Cpu); // (1, 1, D', H', W')
        unsafe
        {
            // SAFETY: host is a new contiguous CPU f32 tensor of exactly box.Depth·box.Height·box.Width values.
            CopyCrop(volume.Data, d, h, w, plan, new Span<float>((float*)host.DataPointer, (int)host.Numel));
        }

        var onDevice = host.To(device);                                                        // (1, 1, D', H', W')
        var y = F.ResizeTrilinear3d(onDevice, [options.TargetDepth, options.TargetHeight, options.TargetWidth],
            [0, box.Depth, 0, box.Height, 0, box.Width]);                                      // (1, 1, od, oh, ow)
        if (options.RoundToBf16)
        {
            var half = y.To(DType.BF16);                                                       // (1, 1, od, oh, ow)
            y = half.To(DType.F32);                                                            // (1, 1, od, oh, ow)
        }

        return new PreprocessResult(scope.Keep(y), box, plan.Warnings, plan.Description);
    }

    /// <summary>
    /// Preprocesses a (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) array of values given as they
    /// are (the rule of .npy files for <see cref="IntensityMode.Auto"/>). The input is not modified.
    /// </summary>
    public static PreprocessResult Run(ReadOnlySpan<float> data, int d, int h, int w, PreprocessOptions options,
        IReadOnlyList<string>? readerWarnings = null)
    {
        if (options.InPlace)
        {
            throw new ArgumentException("InPlace needs a Volume, whose array can be written", nameof(options));
        }

        var plan = Plan(data, d, h, w, VolumeFileFormat.InMemory, false, options, readerWarnings ?? [], own: null);
        return Resized(data, d, h, w, plan, options);
    }

    /// <summary>What preprocessing will do to one volume: the intensity transform, the crop box and the notes.</summary>
    private sealed record PlanResult(IntensityTransform Transform, CropBox Box, List<string> Warnings, string Description);

    // The intensity step (applied to `own`, the volume's array, with InPlace) and the foreground box.
    private static PlanResult Plan(
        ReadOnlySpan<float> data, int d, int h, int w, VolumeFileFormat format, bool invert, PreprocessOptions options,
        IReadOnlyList<string> readerWarnings, float[]? own)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckSize(data.Length, d, h, w, nameof(data));
        int od = options.TargetDepth;
        int oh = options.TargetHeight;
        int ow = options.TargetWidth;
        if (od < 1 || oh < 1 || ow < 1)
        {
            throw new ArgumentException($"target size {od}×{oh}×{ow} must be positive", nameof(options));
        }

        var warnings = new List<string>(readerWarnings);
        var (transform, description) = Intensity(data, format, invert, options, warnings);
        if (options.InPlace && own is not null && !transform.IsIdentity)
        {
            for (int i = 0; i < own.Length; i++)
            {
                own[i] = transform.Apply(own[i]);
            }

            transform = IntensityTransform.Identity;
        }

        var box = ForegroundBox(data, d, h, w, transform);
        if (box.IsEmpty)
        {
            warnings.Add(NoForegroundWarning);
            box = CropBox.Full(d, h, w);
        }

        return new PlanResult(transform, box, warnings, description);
    }

    /// <summary>The intensity transform for this volume and options, and what it does in words.</summary>
    private static (IntensityTransform Transform, string Description) Intensity(
        ReadOnlySpan<float> data, VolumeFileFormat format, bool invert, PreprocessOptions options, List<string> warnings)
    {
        var mode = options.Intensity;
        bool clamp = options.Window is not null;
        var (lo, hi) = options.Window ?? (0f, 0f);
        if (clamp && (!float.IsFinite(lo) || !float.IsFinite(hi) || lo >= hi))
        {
            throw new ArgumentException($"window [{lo}, {hi}] must be finite with lo < hi", nameof(options));
        }

        if (clamp && mode == IntensityMode.AsIs)
        {
            throw new ArgumentException("a window scales the volume to [0, 1]; it cannot be combined with IntensityMode.AsIs",
                nameof(options));
        }

        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int i = 0; i < data.Length; i++)
        {
            float x = data[i];
            if (clamp)
            {
                x = x < lo ? lo : x > hi ? hi : x;
            }

            min = Math.Min(min, x);
            max = Math.Max(max, x);
        }

        string range = $"[{Num(min)}, {Num(max)}]";
        bool given = format is VolumeFileFormat.Npy or VolumeFileFormat.InMemory;
        bool scale = clamp || mode switch
        {
            IntensityMode.AsIs => false,
            IntensityMode.MinMax => true,
            _ => !given || min < 0 || max > 1,
        };
        if (scale && !clamp && mode == IntensityMode.Auto && given)
        {
            warnings.Add($"values span {range}, not [0, 1] as M3D's .npy volumes do: min–max scaled to [0, 1] " +
                "(--intensity as-is keeps them, --window LO,HI clamps them first)");
        }

        bool inverted = invert && scale;
        if (invert && !scale)
        {
            warnings.Add("MONOCHROME1: low values are meant to be shown bright; passed as they are (not inverted)");
        }

        string description = !scale
            ? mode == IntensityMode.AsIs ? $"as is ({range})" : $"kept as is: values already in [0, 1] ({range})"
            : (clamp ? $"window [{Num(lo)}, {Num(hi)}], then " : "")
              + $"min–max {range} → [0, 1]" + (inverted ? ", then 1 − x (MONOCHROME1)" : "");
        float denom = Math.Max(max - min, NormalizeFloor);
        return (new IntensityTransform(clamp, lo, hi, scale, min, denom, inverted), description);
    }

    private static string Num(float x) => x.ToString("0.####", CultureInfo.InvariantCulture);

    // The transformed crop, resized on the host.
    private static PreprocessResult Resized(
        ReadOnlySpan<float> data, int d, int h, int w, PlanResult plan, PreprocessOptions options)
    {
        int od = options.TargetDepth;
        int oh = options.TargetHeight;
        int ow = options.TargetWidth;
        var y = new float[(long)od * oh * ow];
        var box = plan.Box;
        if (plan.Transform.IsIdentity)
        {
            ResizeTrilinear(data, d, h, w, box, y, od, oh, ow); // (od, oh, ow)
        }
        else
        {
            var crop = new float[(long)box.Depth * box.Height * box.Width];
            CopyCrop(data, d, h, w, plan, crop);
            ResizeTrilinear(crop, box.Depth, box.Height, box.Width, y, od, oh, ow); // (od, oh, ow)
        }

        if (options.RoundToBf16)
        {
            RoundToBf16(y);
        }

        return new PreprocessResult(y, od, oh, ow, box, plan.Warnings, plan.Description);
    }

    // The plan's box of the volume with the intensity transform applied, (D', H', W').
    private static void CopyCrop(ReadOnlySpan<float> src, int d, int h, int w, PlanResult plan, Span<float> dst)
    {
        var box = plan.Box;
        var t = plan.Transform;
        int o = 0;
        for (int z = box.D0; z < box.D1; z++)
        {
            for (int y = box.H0; y < box.H1; y++)
            {
                var row = src.Slice((z * h + y) * w + box.W0, box.Width);
                for (int x = 0; x < row.Length; x++)
                {
                    dst[o++] = t.Apply(row[x]);
                }
            }
        }
    }

    /// <summary>
    /// The affine of a model input ((w, h, d, 1) → RAS+ mm, as <see cref="Volume.Affine"/>) cut as
    /// <paramref name="box"/> from a volume with affine <paramref name="source"/> and resized to
    /// (<paramref name="od"/>, <paramref name="oh"/>, <paramref name="ow"/>): with align_corners = False, output index
    /// o along an axis of crop extent n and output size m sits at input index box₀ + (o + ½)·n/m − ½, so each column is
    /// scaled by n/m and the origin moves to that point. The input and the model input then overlay in a viewer.
    /// </summary>
    public static double[,] InputAffine(double[,] source, CropBox box, int od, int oh, int ow)
    {
        ArgumentNullException.ThrowIfNull(source);
        // Columns of the affine: 0 = w, 1 = h, 2 = d.
        double[] scale = [(double)box.Width / ow, (double)box.Height / oh, (double)box.Depth / od];
        double[] start = [box.W0 + 0.5 * scale[0] - 0.5, box.H0 + 0.5 * scale[1] - 0.5, box.D0 + 0.5 * scale[2] - 0.5];
        var a = new double[4, 4];
        a[3, 3] = 1;
        for (int r = 0; r < 3; r++)
        {
            a[r, 3] = source[r, 3];
            for (int c = 0; c < 3; c++)
            {
                a[r, c] = source[r, c] * scale[c];
                a[r, 3] += source[r, c] * start[c];
            }
        }

        return a;
    }

    /// <summary>
    /// The affine given to a volume that has none (.npy): 1 mm voxels in the canonical directions (W towards L, H
    /// towards P, D towards I), voxel (0, 0, 0) at the origin.
    /// </summary>
    public static double[,] UnitCanonicalAffine() => new double[,]
    {
        { -1, 0, 0, 0 },
        { 0, -1, 0, 0 },
        { 0, 0, -1, 0 },
        { 0, 0, 0, 1 },
    };

    /// <summary>Clamps every value into [<paramref name="lo"/>, <paramref name="hi"/>].</summary>
    public static void Window(Span<float> x, float lo, float hi)
    {
        if (!float.IsFinite(lo) || !float.IsFinite(hi) || lo >= hi)
        {
            throw new ArgumentException($"window [{lo}, {hi}] must be finite with lo < hi");
        }

        for (int i = 0; i < x.Length; i++)
        {
            x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
        }
    }

    /// <summary>
    /// M3D's whole-volume min–max normalisation, in float32 and in this order: x ← x − min(x), then
    /// x ← x / max(max(x), 1e-8). The minimum becomes exactly 0 and, unless the volume is constant, the maximum 1.
    /// </summary>
    public static void MinMaxNormalize(Span<float> x)
    {
        if (x.IsEmpty)
        {
            return;
        }

        float min = float.PositiveInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            min = Math.Min(min, x[i]);
        }

        float max = float.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] -= min;
            max = Math.Max(max, x[i]);
        }

        float denom = Math.Max(max, NormalizeFloor);
        for (int i = 0; i < x.Length; i++)
        {
            x[i] /= denom;
        }
    }

    /// <summary>
    /// MONAI CropForeground's box (defaults: foreground = value &gt; 0, OR over the <paramref name="c"/> channels,
    /// margin 0): per spatial axis, the first and one past the last index holding any foreground.
    /// <see cref="CropBox.Empty"/> when there is none.
    /// </summary>
    public static CropBox ForegroundBox(ReadOnlySpan<float> src, int c, int d, int h, int w)
    {
        CheckSize(src.Length, (long)c * d, h, w, nameof(src));
        return ForegroundBox(src, c * d, h, w, IntensityTransform.Identity, d);
    }

    // The box of t(x) > 0 over `planes` (D, H, W)-major planes, depth taken modulo `depth` (channels OR-ed).
    private static CropBox ForegroundBox(ReadOnlySpan<float> src, int planes, int h, int w, IntensityTransform t,
        int depth = 0)
    {
        depth = depth == 0 ? planes : depth;
        int d0 = int.MaxValue, h0 = int.MaxValue, w0 = int.MaxValue;
        int d1 = -1, h1 = -1, w1 = -1;
        bool identity = t.IsIdentity;
        int i = 0;
        for (int p = 0; p < planes; p++)
        {
            int z = p % depth;
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++, i++)
                {
                    if ((identity ? src[i] : t.Apply(src[i])) > 0f)
                    {
                        d0 = Math.Min(d0, z);
                        d1 = Math.Max(d1, z);
                        h0 = Math.Min(h0, y);
                        h1 = Math.Max(h1, y);
                        w0 = Math.Min(w0, x);
                        w1 = Math.Max(w1, x);
                    }
                }
            }
        }

        return d1 < 0 ? CropBox.Empty : new CropBox(d0, d1 + 1, h0, h1 + 1, w0, w1 + 1);
    }

    /// <summary>Copies <paramref name="box"/> of each of the <paramref name="c"/> channels into <paramref name="dst"/> (C, D', H', W').</summary>
    public static void Crop(ReadOnlySpan<float> src, int c, int d, int h, int w, CropBox box, Span<float> dst)
    {
        CheckSize(src.Length, (long)c * d, h, w, nameof(src));
        if (box.IsEmpty || box.D0 < 0 || box.H0 < 0 || box.W0 < 0 || box.D1 > d || box.H1 > h || box.W1 > w)
        {
            throw new ArgumentException($"crop box {box} is empty or outside the {d}×{h}×{w} volume", nameof(box));
        }

        CheckSize(dst.Length, (long)c * box.Depth, box.Height, box.Width, nameof(dst));
        int o = 0;
        for (int ch = 0; ch < c; ch++)
        {
            for (int z = box.D0; z < box.D1; z++)
            {
                for (int y = box.H0; y < box.H1; y++)
                {
                    int s = ((ch * d + z) * h + y) * w + box.W0;
                    src.Slice(s, box.Width).CopyTo(dst.Slice(o, box.Width));
                    o += box.Width;
                }
            }
        }
    }

    /// <summary>
    /// Source coordinate of output index <paramref name="dst"/> when an axis of length <paramref name="n"/> is
    /// resized to <paramref name="m"/> with align_corners = False (<see cref="Resize.SourceCoordinate"/>).
    /// </summary>
    public static float SourceCoordinate(int dst, int n, int m) => Resize.SourceCoordinate(dst, n, m);

    /// <summary>Per-output-index interpolation taps of one axis (<see cref="Resize.LinearTaps"/>).</summary>
    public static void LinearTaps(int n, int m, Span<int> i0, Span<int> i1, Span<float> lambda) =>
        Resize.LinearTaps(n, m, i0, i1, lambda);

    /// <summary>
    /// Trilinear resize of a (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) volume to
    /// (<paramref name="od"/>, <paramref name="oh"/>, <paramref name="ow"/>), the semantics of PyTorch
    /// <c>F.interpolate(x, size, mode="trilinear", align_corners=False)</c> in float32, no anti-aliasing: the
    /// reference loops of the ResizeTrilinear3d op (<see cref="Resize.Reference{T}"/>) over the whole volume.
    /// Matching sizes give an exact copy.
    /// </summary>
    public static void ResizeTrilinear(
        ReadOnlySpan<float> src, int d, int h, int w, Span<float> dst, int od, int oh, int ow) =>
        ResizeTrilinear(src, d, h, w, CropBox.Full(d, h, w), dst, od, oh, ow);

    /// <summary>
    /// <see cref="ResizeTrilinear(ReadOnlySpan{float}, int, int, int, Span{float}, int, int, int)"/> of the
    /// <paramref name="box"/> of the volume, read in place (crop and resize in one pass).
    /// </summary>
    public static unsafe void ResizeTrilinear(
        ReadOnlySpan<float> src, int d, int h, int w, CropBox box, Span<float> dst, int od, int oh, int ow)
    {
        CheckSize(src.Length, d, h, w, nameof(src));
        CheckSize(dst.Length, od, oh, ow, nameof(dst));
        CheckBox(box, d, h, w);
        // SAFETY: both spans are pinned for the call and their lengths were checked against the extents above.
        fixed (float* x = src)
        fixed (float* y = dst)
        {
            Resize.Reference(x, 1, d, h, w, CropArray(box), od, oh, ow, y);
        }
    }

    /// <summary>The op's crop argument (z0, z1, y0, y1, x0, x1) for a box.</summary>
    public static int[] CropArray(CropBox box) => [box.D0, box.D1, box.H0, box.H1, box.W0, box.W1];

    private static void CheckBox(CropBox box, int d, int h, int w)
    {
        if (box.IsEmpty || box.D0 < 0 || box.H0 < 0 || box.W0 < 0 || box.D1 > d || box.H1 > h || box.W1 > w)
        {
            throw new ArgumentException($"crop box {box} is empty or outside the {d}×{h}×{w} volume", nameof(box));
        }
    }

    /// <summary>Rounds a float32 to the nearest bfloat16 value (ties to even), returned as float32. NaN stays NaN.</summary>
    public static float RoundToBf16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x))
        {
            return BitConverter.UInt32BitsToSingle((bits | 0x00400000u) & 0xFFFF0000u);
        }

        uint rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(rounded & 0xFFFF0000u);
    }

    /// <summary>Rounds every value to bfloat16 in place (see <see cref="RoundToBf16(float)"/>).</summary>
    public static void RoundToBf16(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = RoundToBf16(x[i]);
        }
    }

    private static void CheckSize(int length, long d, int h, int w, string name)
    {
        if (d < 1 || h < 1 || w < 1 || d * h * w != length)
        {
            throw new ArgumentException($"{name} has {length} values, which is not {d}×{h}×{w}", name);
        }
    }
}
