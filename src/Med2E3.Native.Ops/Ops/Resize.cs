using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Crop + trilinear resize of a (B, C, D, Hi, W) volume in one pass, with PyTorch's
/// <c>F.interpolate(x, size, mode="trilinear", align_corners=False)</c> semantics and no anti-aliasing (spec §1.2
/// step 3). The crop box (z0, z1, y0, y1, x0, x1) selects the source region, so MONAI's CropForeground followed by
/// Resize needs no intermediate copy.
/// </summary>
/// <remarks>
/// Per axis with source length n (the crop extent) and output length m, in float32 whatever the tensor dtype:
/// scale = n / m, src = scale·(dst + 0.5) − 0.5 clamped below at 0, i0 = ⌊src⌋ (at most n − 1),
/// i1 = min(i0 + 1, n − 1), λ = src − i0. The blend is nested depth outermost as PyTorch nests it:
/// y = (1−λd)·[(1−λh)·((1−λw)·v000 + λw·v001) + λh·(…)] + λd·[…]. When the crop extent equals the output size on
/// all three axes the result is an exact copy of the crop (MONAI skips the resize).
/// </remarks>
public static unsafe class Resize
{
    /// <summary>
    /// Source coordinate of output index <paramref name="dst"/> when an axis of length <paramref name="n"/> is
    /// resized to <paramref name="m"/> with align_corners = False, in float32 as PyTorch computes it:
    /// scale = n / m, src = scale · (dst + 0.5) − 0.5, clamped below at 0.
    /// </summary>
    /// <param name="dst">Output index.</param>
    /// <param name="n">Source length.</param>
    /// <param name="m">Output length.</param>
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
    /// <param name="n">Source length.</param>
    /// <param name="m">Output length.</param>
    /// <param name="i0">Receives the lower tap of each output index (length m).</param>
    /// <param name="i1">Receives the upper tap (length m).</param>
    /// <param name="lambda">Receives the weight of the upper tap (length m).</param>
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
    /// Reference forward: x (N = B·C, D, Hi, W) contiguous, the crop [z0, z1) × [y0, y1) × [x0, x1) of each of the
    /// N volumes resized to y (N, Do, Ho, Wo) contiguous. Taps in float32, blend in <typeparamref name="T"/>.
    /// </summary>
    /// <param name="x">Input, N·D·Hi·W values.</param>
    /// <param name="n">Number of volumes (B·C).</param>
    /// <param name="d">Input depth D.</param>
    /// <param name="h">Input height Hi.</param>
    /// <param name="w">Input width W.</param>
    /// <param name="crop">Crop box (z0, z1, y0, y1, x0, x1), non-empty and inside the input.</param>
    /// <param name="od">Output depth.</param>
    /// <param name="oh">Output height.</param>
    /// <param name="ow">Output width.</param>
    /// <param name="y">Output, N·Do·Ho·Wo values.</param>
    public static void Reference<T>(T* x, int n, int d, int h, int w, ReadOnlySpan<int> crop, int od, int oh, int ow,
        T* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int z0 = crop[0], y0 = crop[2], x0 = crop[4];
        int cd = crop[1] - z0, ch = crop[3] - y0, cw = crop[5] - x0;
        long plane = (long)d * h * w;
        long outPlane = (long)od * oh * ow;
        if (cd == od && ch == oh && cw == ow)
        {
            // Matching sizes: an exact copy of the crop, as MONAI skips the resize.
            for (long c = 0; c < n; c++)
                for (int z = 0; z < od; z++)
                    for (int r = 0; r < oh; r++)
                        new ReadOnlySpan<T>(x + c * plane + ((long)(z0 + z) * h + y0 + r) * w + x0, ow)
                            .CopyTo(new Span<T>(y + c * outPlane + ((long)z * oh + r) * ow, ow));
            return;
        }

        int[] tz0 = new int[od], tz1 = new int[od], ty0 = new int[oh], ty1 = new int[oh], tx0 = new int[ow], tx1 = new int[ow];
        float[] lz = new float[od], ly = new float[oh], lx = new float[ow];
        LinearTaps(cd, od, tz0, tz1, lz);
        LinearTaps(ch, oh, ty0, ty1, ly);
        LinearTaps(cw, ow, tx0, tx1, lx);
        // One work item per output slice (volume c, output depth z); each writes its own Ho·Wo values.
        Par.For((long)n * od, 1, (s, e) =>
        {
            for (long item = s; item < e; item++)
            {
                long c = item / od;
                int z = (int)(item % od);
                T wz1 = T.CreateTruncating(lz[z]);
                T wz0 = T.One - wz1;
                T* pa = x + c * plane + (long)(z0 + tz0[z]) * h * w;
                T* pb = x + c * plane + (long)(z0 + tz1[z]) * h * w;
                T* o = y + c * outPlane + (long)z * oh * ow;
                for (int r = 0; r < oh; r++)
                {
                    T wy1 = T.CreateTruncating(ly[r]);
                    T wy0 = T.One - wy1;
                    long ra = (long)(y0 + ty0[r]) * w + x0;
                    long rb = (long)(y0 + ty1[r]) * w + x0;
                    for (int q = 0; q < ow; q++)
                    {
                        T wx1 = T.CreateTruncating(lx[q]);
                        T wx0 = T.One - wx1;
                        int a = tx0[q], b = tx1[q];
                        T near = wy0 * (wx0 * pa[ra + a] + wx1 * pa[ra + b]) + wy1 * (wx0 * pa[rb + a] + wx1 * pa[rb + b]);
                        T far = wy0 * (wx0 * pb[ra + a] + wx1 * pb[ra + b]) + wy1 * (wx0 * pb[rb + a] + wx1 * pb[rb + b]);
                        o[(long)r * ow + q] = wz0 * near + wz1 * far;
                    }
                }
            }
        });
    }

    internal static Tensor ResizeTrilinear3d(Tensor x, int[] size, int[]? crop)
    {
        Dispatch.Float("ResizeTrilinear3d", x);
        if (x.Rank != 5) throw new ShapeMismatchException("ResizeTrilinear3d", x.ShapeSpan, "x must be (B, C, D, Hi, W)");
        if (size.Length != 3 || size.Any(s => s < 1))
            throw new ArgumentException($"Resize.cs: ResizeTrilinear3d needs 3 output sizes ≥ 1, got [{string.Join(", ", size)}]");
        int d = x.Dim(2), h = x.Dim(3), w = x.Dim(4);
        int[] box = crop ?? [0, d, 0, h, 0, w];
        if (box.Length != 6 || box[0] < 0 || box[1] > d || box[0] >= box[1] || box[2] < 0 || box[3] > h
            || box[2] >= box[3] || box[4] < 0 || box[5] > w || box[4] >= box[5])
            throw new ArgumentException($"Resize.cs: crop box [{string.Join(", ", box)}] is not a non-empty "
                + $"(z0, z1, y0, y1, x0, x1) inside the {d}×{h}×{w} volume");
        var be = Dispatch.Backend(OpKind.ResizeTrilinear3d, x);
        using var xc = Dispatch.C(x);
        var y = Tensor.Empty([x.Dim(0), x.Dim(1), size[0], size[1], size[2]], x.DType, x.Device); // (B, C, Do, Ho, Wo)
        be.ResizeTrilinear3d(xc, box, y);
        return y;
    }
}
