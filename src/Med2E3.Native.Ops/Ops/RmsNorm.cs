using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>RMSNorm over the last axis (Phi-3): rstd = 1/√(mean(x²) + eps), y = (x·rstd)·w. rstd is saved.</summary>
public static unsafe class RmsNorm
{
    /// <summary>Reference forward (double accumulation).</summary>
    public static void Reference<T, TS>(T* x, T* w, int n, int c, double eps, T* y, TS* rstd)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, Math.Max(1, 4096 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                double sq = 0;
                for (int i = 0; i < c; i++)
                {
                    double v = double.CreateTruncating(x[r * c + i]);
                    sq += v * v;
                }
                double rs = 1.0 / Math.Sqrt(sq / c + eps);
                rstd[r] = TS.CreateTruncating(rs);
                for (int i = 0; i < c; i++)
                {
                    double v = double.CreateTruncating(x[r * c + i]) * rs;
                    if (w != null) v *= double.CreateTruncating(w[i]);
                    y[r * c + i] = T.CreateTruncating(v);
                }
            }
        });
    }

    /// <summary>Fast f32 forward.</summary>
    public static void Fast(float* x, float* w, int n, int c, double eps, float* y, float* rstd)
    {
        Par.For(n, Math.Max(1, 16384 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                var xr = new ReadOnlySpan<float>(x + r * c, c);
                var yr = new Span<float>(y + r * c, c);
                float rs = (float)(1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(xr) / c + eps));
                rstd[r] = rs;
                TensorPrimitives.Multiply(xr, rs, yr);
                if (w != null) TensorPrimitives.Multiply(yr, new ReadOnlySpan<float>(w, c), yr);
            }
        });
    }

    /// <summary>Reference backward: x̂ = x·rstd, ĝ = dy·w, dx = rstd·(ĝ − x̂·mean(ĝ·x̂)), dw = Σrows dy·x̂.</summary>
    public static void BackwardReference<T, TS>(T* x, T* w, TS* rstd, T* dy, int n, int c, T* dx, T* dw)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, Math.Max(1, 4096 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                double rs = double.CreateTruncating(rstd[r]);
                double mgx = 0;
                for (int i = 0; i < c; i++)
                {
                    double xh = double.CreateTruncating(x[r * c + i]) * rs;
                    double gh = double.CreateTruncating(dy[r * c + i]) * (w != null ? double.CreateTruncating(w[i]) : 1);
                    mgx += gh * xh;
                }
                mgx /= c;
                for (int i = 0; i < c; i++)
                {
                    double xh = double.CreateTruncating(x[r * c + i]) * rs;
                    double gh = double.CreateTruncating(dy[r * c + i]) * (w != null ? double.CreateTruncating(w[i]) : 1);
                    dx[r * c + i] = T.CreateTruncating(rs * (gh - xh * mgx));
                }
            }
        });
        if (dw == null) return;
        Par.For(c, 64, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                double sw = 0;
                for (int r = 0; r < n; r++)
                    sw += double.CreateTruncating(dy[(long)r * c + i]) * double.CreateTruncating(x[(long)r * c + i]) * double.CreateTruncating(rstd[r]);
                dw[i] = T.CreateTruncating(sw);
            }
        });
    }

    internal static Tensor Apply(Tensor x, Tensor? w, double eps)
    {
        Dispatch.Float("RmsNorm", x);
        Dispatch.Same("RmsNorm", x, w);
        int c = x.Dim(-1);
        if (w is not null && (w.Rank != 1 || w.Dim(0) != c)) throw new ShapeMismatchException("RmsNorm", x.ShapeSpan, w.ShapeSpan, x.Rank - 1, "weight must be (C)");
        var be = Dispatch.Backend(OpKind.RmsNorm, x);
        int n = (int)(x.Numel / Math.Max(c, 1));
        using var xc = Dispatch.C(x);
        using var wc = w is null ? null : Dispatch.C(w);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        using var rstd = Tensor.Empty([n], Dispatch.StatType(x.DType), x.Device);
        be.RmsNorm(xc, wc, eps, y, rstd);
        return Autograd.Record(y, OpKind.RmsNorm, "RmsNorm", [x, w], [xc, wc, rstd], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var X = node.Saved[0]!;
            var dx = Tensor.Empty(X.Shape, X.DType, X.Device);
            var dw = node.NeedsInputGrad(1) ? Tensor.Empty([c], X.DType, X.Device) : null;
            Backends.For(g.Device).RmsNormBackward(X, node.Saved[1], node.Saved[2]!, gc, dx, dw);
            return [node.NeedsInputGrad(0) ? dx : null, dw];
        });
    }
}
