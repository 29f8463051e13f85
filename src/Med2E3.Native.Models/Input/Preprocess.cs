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
    /// Preprocesses a (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) array; <paramref name="normalize"/>
    /// decides min–max normalisation (<see cref="PreprocessOptions.MinMaxNormalize"/> is not consulted here).
    /// The input is not modified.
    /// </summary>
    public static PreprocessResult Run(
        ReadOnlySpan<float> data, int d, int h, int w, bool normalize, PreprocessOptions options,
        IReadOnlyList<string>? readerWarnings = null)
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

        float[] cropped = x;
        if (box != CropBox.Full(d, h, w))
        {
            cropped = new float[(long)box.Depth * box.Height * box.Width];
            Crop(x, 1, d, h, w, box, cropped); // (D', H', W')
        }

        var y = new float[(long)od * oh * ow];
        ResizeTrilinear(cropped, box.Depth, box.Height, box.Width, y, od, oh, ow); // (od, oh, ow)
        if (options.RoundToBf16)
        {
            RoundToBf16(y);
        }

        return new PreprocessResult(y, od, oh, ow, box, warnings);
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
    /// resized to <paramref name="m"/> with align_corners = False, in float32 as PyTorch computes it:
    /// scale = n / m, src = scale · (dst + 0.5) − 0.5, clamped below at 0.
    /// </summary>
    public static float SourceCoordinate(int dst, int n, int m)
    {
        float scale = (float)n / m;
        float src = scale * (dst + 0.5f) - 0.5f;
        return src < 0f ? 0f : src;
    }

    /// <summary>
    /// Per-output-index interpolation taps of one axis: the two source indices i0 = ⌊src⌋ (at most n − 1) and
    /// i1 = min(i0 + 1, n − 1), and the weight λ = src − i0 of i1 (1 − λ goes to i0).
    /// </summary>
    public static void LinearTaps(int n, int m, Span<int> i0, Span<int> i1, Span<float> lambda)
    {
        for (int o = 0; o < m; o++)
        {
            float src = SourceCoordinate(o, n, m);
            int i = Math.Min((int)MathF.Floor(src), n - 1);
            i0[o] = i;
            i1[o] = Math.Min(i + 1, n - 1);
            lambda[o] = Math.Clamp(src - i, 0f, 1f);
        }
    }

    /// <summary>
    /// Trilinear resize of a (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) volume to
    /// (<paramref name="od"/>, <paramref name="oh"/>, <paramref name="ow"/>), the semantics of PyTorch
    /// <c>F.interpolate(x, size, mode="trilinear", align_corners=False)</c> in float32, no anti-aliasing.
    /// The taps come from <see cref="LinearTaps"/>; the blend is nested as PyTorch nests it, depth outermost:
    /// y = (1−λd)·[(1−λh)·((1−λw)·v000 + λw·v001) + λh·(…)] + λd·[…]. Matching sizes give an exact copy.
    /// </summary>
    public static void ResizeTrilinear(
        ReadOnlySpan<float> src, int d, int h, int w, Span<float> dst, int od, int oh, int ow)
    {
        CheckSize(src.Length, d, h, w, nameof(src));
        CheckSize(dst.Length, od, oh, ow, nameof(dst));
        if (d == od && h == oh && w == ow)
        {
            src.CopyTo(dst);
            return;
        }

        Span<int> z0 = new int[od], z1 = new int[od], y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        Span<float> lz = new float[od], ly = new float[oh], lx = new float[ow];
        LinearTaps(d, od, z0, z1, lz);
        LinearTaps(h, oh, y0, y1, ly);
        LinearTaps(w, ow, x0, x1, lx);

        int o = 0;
        for (int z = 0; z < od; z++)
        {
            float wz1 = lz[z];
            float wz0 = 1f - wz1;
            int pa = z0[z] * h;
            int pb = z1[z] * h;
            for (int y = 0; y < oh; y++)
            {
                float wy1 = ly[y];
                float wy0 = 1f - wy1;
                int raa = (pa + y0[y]) * w;
                int rab = (pa + y1[y]) * w;
                int rba = (pb + y0[y]) * w;
                int rbb = (pb + y1[y]) * w;
                for (int x = 0; x < ow; x++)
                {
                    float wx1 = lx[x];
                    float wx0 = 1f - wx1;
                    int a = x0[x];
                    int b = x1[x];
                    float near = wy0 * (wx0 * src[raa + a] + wx1 * src[raa + b])
                               + wy1 * (wx0 * src[rab + a] + wx1 * src[rab + b]);
                    float far = wy0 * (wx0 * src[rba + a] + wx1 * src[rba + b])
                              + wy1 * (wx0 * src[rbb + a] + wx1 * src[rbb + b]);
                    dst[o++] = wz0 * near + wz1 * far;
                }
            }
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
