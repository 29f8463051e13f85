using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// The Med-2E3 evaluation transform (spec §1.2) as plain loops on float32 (D, H, W) arrays: the CPU reference that a
/// device version must reproduce. Every step is also a separate static function with a span signature.
/// </summary>
/// <remarks>
/// <see cref="Run(Volume, PreprocessOptions)"/> applies, in order:
/// <list type="number">
/// <item>optional intensity window (clamp to [lo, hi]; not in the reference, meant for raw CT in Hounsfield units);</item>
/// <item>min–max normalisation, on by default for NIfTI only (.npy files of M3D are already normalised, §1.1);</item>
/// <item>CropForeground: the bounding box of voxels &gt; 0, margin 0 (MONAI defaults). A volume with no voxel &gt; 0,
/// where the reference fails, keeps its full extent and gets a warning;</item>
/// <item>trilinear resize to the target size with align_corners = False (PyTorch <c>F.interpolate</c> semantics),
/// an exact copy when the size already matches;</item>
/// <item>optionally, rounding to bfloat16.</item>
/// </list>
/// </remarks>
public static class Preprocess
{
    /// <summary>The floor of the min–max denominator: x / max(max, 1e-8).</summary>
    public const float NormalizeFloor = 1e-8f;

    /// <summary>The warning added when a volume has no foreground voxel.</summary>
    public const string NoForegroundWarning =
        "no voxel is > 0, so there is no foreground to crop: the whole volume was resized instead";

    /// <summary>Preprocesses a volume read from disk into the model's input.</summary>
    public static PreprocessResult Run(Volume volume, PreprocessOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(volume);
        options ??= PreprocessOptions.Default;
        bool normalize = options.MinMaxNormalize ?? volume.Format is VolumeFileFormat.Nifti1 or VolumeFileFormat.Nifti2;
        return Run(volume.Data, volume.Depth, volume.Height, volume.Width, normalize, options, volume.Warnings);
    }

    /// <summary>
    /// Preprocesses a volume with the crop + resize on <paramref name="device"/>: window, min–max and the foreground
    /// box run on the host (cheap O(N) passes), the windowed volume is uploaded once, and the ResizeTrilinear3d op
    /// (<c>F.ResizeTrilinear3d</c>, kernels/resize.cu on CUDA) crops and resizes it there. The result's tensor stays
    /// on the device. On the CPU this is <see cref="Run(Volume, PreprocessOptions)"/> computed through the same op.
    /// </summary>
    public static PreprocessResult Run(Volume volume, Device device, PreprocessOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(volume);
        options ??= PreprocessOptions.Default;
        bool normalize = options.MinMaxNormalize ?? volume.Format is VolumeFileFormat.Nifti1 or VolumeFileFormat.Nifti2;
        int d = volume.Depth, h = volume.Height, w = volume.Width;
        var (x, box, warnings) = Prepare(volume.Data, d, h, w, normalize, options, volume.Warnings);
        using var scope = TensorScope.Begin();
        var host = Tensor.FromArray(x, 1, 1, d, h, w);                                          // (1, 1, D, H, W)
        var onDevice = host.To(device);                                                        // (1, 1, D, H, W)
        var y = F.ResizeTrilinear3d(onDevice, [options.TargetDepth, options.TargetHeight, options.TargetWidth],
            CropArray(box));                                                                   // (1, 1, od, oh, ow)
        if (options.RoundToBf16)
        {
            var half = y.To(DType.BF16);                                                       // (1, 1, od, oh, ow)
            y = half.To(DType.F32);                                                            // (1, 1, od, oh, ow)
        }

        return new PreprocessResult(scope.Keep(y), box, warnings);
    }

    /// <summary>
    /// Preprocesses a (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) array; <paramref name="normalize"/>
    /// decides min–max normalisation (<see cref="PreprocessOptions.MinMaxNormalize"/> is not consulted here).
    /// The input is not modified.
    /// </summary>
    public static PreprocessResult Run(
        ReadOnlySpan<float> data, int d, int h, int w, bool normalize, PreprocessOptions options,
        IReadOnlyList<string>? readerWarnings = null)
    {
        var (x, box, warnings) = Prepare(data, d, h, w, normalize, options, readerWarnings);
        int od = options.TargetDepth;
        int oh = options.TargetHeight;
        int ow = options.TargetWidth;
        var y = new float[(long)od * oh * ow];
        ResizeTrilinear(x, d, h, w, box, y, od, oh, ow); // (od, oh, ow)
        if (options.RoundToBf16)
        {
            RoundToBf16(y);
        }

        return new PreprocessResult(y, od, oh, ow, box, warnings);
    }

    // Steps 1–3 on the host: window, min–max and the foreground box (the whole volume when there is none).
    private static (float[] X, CropBox Box, List<string> Warnings) Prepare(
        ReadOnlySpan<float> data, int d, int h, int w, bool normalize, PreprocessOptions options,
        IReadOnlyList<string>? readerWarnings)
    {
        CheckSize(data.Length, d, h, w, nameof(data));
        int od = options.TargetDepth;
        int oh = options.TargetHeight;
        int ow = options.TargetWidth;
        if (od < 1 || oh < 1 || ow < 1)
        {
            throw new ArgumentException($"target size {od}×{oh}×{ow} must be positive", nameof(options));
        }

        var warnings = new List<string>(readerWarnings ?? []);
        var x = data.ToArray(); // (D, H, W)
        if (options.Window is { } win)
        {
            Window(x, win.Lo, win.Hi);
        }

        if (normalize)
        {
            MinMaxNormalize(x);
        }

        var box = ForegroundBox(x, 1, d, h, w);
        if (box.IsEmpty)
        {
            warnings.Add(NoForegroundWarning);
            box = CropBox.Full(d, h, w);
        }

        return (x, box, warnings);
    }

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
        int d0 = int.MaxValue, h0 = int.MaxValue, w0 = int.MaxValue;
        int d1 = -1, h1 = -1, w1 = -1;
        int i = 0;
        for (int ch = 0; ch < c; ch++)
        {
            for (int z = 0; z < d; z++)
            {
                for (int y = 0; y < h; y++)
                {
                    for (int x = 0; x < w; x++, i++)
                    {
                        if (src[i] > 0f)
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
