using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Rotary position embedding with split halves: y = x⊙cos + rotate_half(x)⊙sin, rotate_half(v) = [−v₂, v₁].
/// Tables follow LongRoPE (spec §6.3): inv_freq[i] = 1/(f[i]·θ^(2i/Dh)), θ_{t,j} = (start + t)·inv_freq[j mod Dh/2],
/// cos/sin multiplied by the attention factor √(1 + ln(max/orig)/ln(orig)).
/// </summary>
public static unsafe class Rope
{
    /// <summary>Reference forward on x (R, T, Dh) with cos, sin (T, Dh); <paramref name="backward"/> applies the transpose map.</summary>
    public static void Reference<T>(T* x, T* cos, T* sin, T* y, int r, int t, int dh, bool backward)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int half = dh / 2;
        Par.For((long)r * t, 64, (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                long ti = row % t;
                T* xr = x + row * dh;
                T* yr = y + row * dh;
                T* cr = cos + ti * dh;
                T* sr = sin + ti * dh;
                for (int j = 0; j < dh; j++)
                {
                    double v = double.CreateTruncating(xr[j]) * double.CreateTruncating(cr[j]);
                    if (!backward)
                    {
                        double rot = j < half ? -double.CreateTruncating(xr[j + half]) : double.CreateTruncating(xr[j - half]);
                        v += rot * double.CreateTruncating(sr[j]);
                    }
                    else
                    {
                        v += j < half
                            ? double.CreateTruncating(xr[j + half]) * double.CreateTruncating(sr[j + half])
                            : -double.CreateTruncating(xr[j - half]) * double.CreateTruncating(sr[j - half]);
                    }
                    yr[j] = T.CreateTruncating(v);
                }
            }
        });
    }

    /// <summary>The LongRoPE attention factor √(1 + ln(max/orig)/ln(orig)), or 1 when max ≤ orig.</summary>
    public static double LongRopeAttentionFactor(int maxPositionEmbeddings, int originalMaxPositionEmbeddings)
    {
        double scale = (double)maxPositionEmbeddings / originalMaxPositionEmbeddings;
        return scale <= 1.0 ? 1.0 : Math.Sqrt(1 + Math.Log(scale) / Math.Log(originalMaxPositionEmbeddings));
    }

    /// <summary>short_factor when the sequence length (max position + 1) ≤ the original maximum, else long_factor.</summary>
    public static double[] SelectFactors(int sequenceLength, int originalMaxPositionEmbeddings, double[] shortFactor, double[] longFactor) =>
        sequenceLength > originalMaxPositionEmbeddings ? longFactor : shortFactor;

    /// <summary>
    /// cos and sin tables (T, Dh) for positions start..start+length−1. With <paramref name="float32Math"/> (default)
    /// inv_freq, the angles and cos/sin are computed in f32 exactly as transformers does; otherwise in double.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) Tables(int start, int length, int headDim, double theta, double[]? factors,
        double attentionFactor, DType dtype = DType.F32, Device? device = null, bool float32Math = true)
    {
        if (headDim % 2 != 0) throw new ArgumentException("Rope.cs: head dim must be even", nameof(headDim));
        int half = headDim / 2;
        if (factors is not null && factors.Length != half)
            throw new ArgumentException($"Rope.cs: {factors.Length} rope factors for head dim {headDim} (need {half})", nameof(factors));
        var c = new double[length * headDim];
        var s = new double[length * headDim];
        for (int i = 0; i < half; i++)
        {
            double f = factors?[i] ?? 1.0;
            if (float32Math)
            {
                float expo = (float)(2 * i) / headDim;
                float inv = 1f / ((float)f * MathF.Pow((float)theta, expo));
                for (int p = 0; p < length; p++)
                {
                    float ang = inv * (start + p);
                    float cv = MathF.Cos(ang) * (float)attentionFactor, sv = MathF.Sin(ang) * (float)attentionFactor;
                    c[p * headDim + i] = c[p * headDim + i + half] = cv;
                    s[p * headDim + i] = s[p * headDim + i + half] = sv;
                }
            }
            else
            {
                double inv = 1.0 / (f * Math.Pow(theta, 2.0 * i / headDim));
                for (int p = 0; p < length; p++)
                {
                    double ang = inv * (start + p);
                    c[p * headDim + i] = c[p * headDim + i + half] = Math.Cos(ang) * attentionFactor;
                    s[p * headDim + i] = s[p * headDim + i + half] = Math.Sin(ang) * attentionFactor;
                }
            }
        }
        return (Tensor.FromDoubles(c, [length, headDim], dtype, device), Tensor.FromDoubles(s, [length, headDim], dtype, device));
    }

    internal static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        Dispatch.Float("Rope", x);
        Dispatch.Same("Rope", x, cos);
        Dispatch.Same("Rope", x, sin);
        if (x.Rank < 2) throw new ShapeMismatchException("Rope", x.ShapeSpan, "x must be (..., T, Dh)");
        int t = x.Dim(-2), dh = x.Dim(-1);
        if (dh % 2 != 0) throw new ShapeMismatchException("Rope", x.ShapeSpan, "head dim must be even");
        if (cos.Rank != 2 || cos.Dim(0) != t || cos.Dim(1) != dh || !Shapes.Equal(cos.ShapeSpan, sin.ShapeSpan))
            throw new ShapeMismatchException("Rope", x.ShapeSpan, cos.ShapeSpan, -1, "cos/sin must be (T, Dh)");
        var be = Dispatch.Backend(OpKind.Rope, x);
        using var xc = Dispatch.C(x);
        using var cc = Dispatch.C(cos);
        using var sc = Dispatch.C(sin);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        be.Rope(xc, cc, sc, y, false);
        return Autograd.Record(y, OpKind.Rope, "Rope", [x], [cc, sc], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(g.Shape, g.DType, g.Device);
            Backends.For(g.Device).Rope(gc, node.Saved[0]!, node.Saved[1]!, dx, true);
            return [dx];
        });
    }
}
