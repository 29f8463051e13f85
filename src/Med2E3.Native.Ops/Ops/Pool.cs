using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>3D average pooling without padding: y = mean of each (kd, kh, kw) window taken every (sd, sh, sw).</summary>
public static unsafe class Pool
{
    /// <summary>Reference forward on x (N = B·C, D, Hi, W).</summary>
    public static void Reference<T>(T* x, int n, int d, int h, int w, int kd, int kh, int kw, int sd, int sh, int sw,
        int od, int oh, int ow, T* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double inv = 1.0 / (kd * kh * kw);
        Par.For(n, 1, (s, e) =>
        {
            for (long c = s; c < e; c++)
                for (int z = 0; z < od; z++)
                for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++)
                {
                    double acc = 0;
                    for (int i = 0; i < kd; i++)
                        for (int j = 0; j < kh; j++)
                            for (int l = 0; l < kw; l++)
                                acc += double.CreateTruncating(x[((c * d + z * sd + i) * h + yy * sh + j) * w + xx * sw + l]);
                    y[((c * od + z) * oh + yy) * ow + xx] = T.CreateTruncating(acc * inv);
                }
        });
    }

    /// <summary>Reference backward: each window element receives dy / window size (accumulated where windows overlap).</summary>
    public static void BackwardReference<T>(T* dy, int n, int d, int h, int w, int kd, int kh, int kw, int sd, int sh,
        int sw, int od, int oh, int ow, T* dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double inv = 1.0 / (kd * kh * kw);
        new Span<T>(dx, checked(n * d * h * w)).Clear();
        Par.For(n, 1, (s, e) =>
        {
            for (long c = s; c < e; c++)
                for (int z = 0; z < od; z++)
                for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++)
                {
                    T g = T.CreateTruncating(double.CreateTruncating(dy[((c * od + z) * oh + yy) * ow + xx]) * inv);
                    for (int i = 0; i < kd; i++)
                        for (int j = 0; j < kh; j++)
                            for (int l = 0; l < kw; l++)
                                dx[((c * d + z * sd + i) * h + yy * sh + j) * w + xx * sw + l] += g;
                }
        });
    }

    internal static Tensor AvgPool3d(Tensor x, int[] kernel, int[] stride)
    {
        Dispatch.Float("AvgPool3d", x);
        if (x.Rank != 5) throw new ShapeMismatchException("AvgPool3d", x.ShapeSpan, "x must be (B, C, D, Hi, W)");
        if (kernel.Length != 3 || stride.Length != 3 || kernel.Any(k => k < 1) || stride.Any(s => s < 1))
            throw new ArgumentException("Pool.cs: AvgPool3d needs 3 kernel sizes and 3 strides ≥ 1");
        int od = (x.Dim(2) - kernel[0]) / stride[0] + 1, oh = (x.Dim(3) - kernel[1]) / stride[1] + 1, ow = (x.Dim(4) - kernel[2]) / stride[2] + 1;
        if (od <= 0 || oh <= 0 || ow <= 0) throw new ShapeMismatchException("AvgPool3d", x.ShapeSpan, kernel, -1, "kernel larger than input");
        var be = Dispatch.Backend(OpKind.AvgPool3d, x);
        using var xc = Dispatch.C(x);
        var y = Tensor.Empty([x.Dim(0), x.Dim(1), od, oh, ow], x.DType, x.Device);
        be.AvgPool3d(xc, kernel, stride, y);
        var xs = x.Shape;
        return Autograd.Record(y, OpKind.AvgPool3d, "AvgPool3d", [x], [], (_, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(xs, g.DType, g.Device);
            Backends.For(g.Device).AvgPool3dBackward(gc, kernel, stride, dx);
            return [dx];
        });
    }
}
