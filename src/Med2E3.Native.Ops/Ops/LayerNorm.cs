using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// LayerNorm over the last axis: mean[r] = Σc x/C, rstd[r] = 1/√(Σc (x − mean)²/C + eps),
/// y = (x − mean)·rstd·w + b. mean and rstd are saved for backward.
/// </summary>
public static unsafe class LayerNorm
{
    /// <summary>Reference forward (two-pass statistics in double). w, b may be null.</summary>
    public static void Reference<T, TS>(T* x, T* w, T* b, int n, int c, double eps, T* y, TS* mean, TS* rstd)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, Math.Max(1, 4096 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                T* xr = x + r * c;
                double sum = 0;
                for (int i = 0; i < c; i++) sum += double.CreateTruncating(xr[i]);
                double mu = sum / c;
                double sq = 0;
                for (int i = 0; i < c; i++)
                {
                    double d = double.CreateTruncating(xr[i]) - mu;
                    sq += d * d;
                }
                double rs = 1.0 / Math.Sqrt(sq / c + eps);
                mean[r] = TS.CreateTruncating(mu);
                rstd[r] = TS.CreateTruncating(rs);
                for (int i = 0; i < c; i++)
                {
                    double v = (double.CreateTruncating(xr[i]) - mu) * rs;
                    if (w != null) v *= double.CreateTruncating(w[i]);
                    if (b != null) v += double.CreateTruncating(b[i]);
                    y[r * c + i] = T.CreateTruncating(v);
                }
            }
        });
    }

    /// <summary>Fast f32 forward: vectorised two-pass statistics per row.</summary>
    public static void Fast(float* x, float* w, float* b, int n, int c, double eps, float* y, float* mean, float* rstd)
    {
        Par.For(n, Math.Max(1, 16384 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                var xr = new ReadOnlySpan<float>(x + r * c, c);
                var yr = new Span<float>(y + r * c, c);
                float mu = TensorPrimitives.Sum(xr) / c;
                TensorPrimitives.Subtract(xr, mu, yr);
                float var = TensorPrimitives.SumOfSquares(yr) / c;
                float rs = (float)(1.0 / Math.Sqrt(var + eps));
                mean[r] = mu;
                rstd[r] = rs;
                TensorPrimitives.Multiply(yr, rs, yr);
                if (w != null) TensorPrimitives.Multiply(yr, new ReadOnlySpan<float>(w, c), yr);
                if (b != null) TensorPrimitives.Add(yr, new ReadOnlySpan<float>(b, c), yr);
            }
        });
    }

    /// <summary>
    /// Reference backward: x̂ = (x − mean)·rstd, ĝ = dy·w, dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),
    /// dw = Σrows dy·x̂, db = Σrows dy.
    /// </summary>
    public static void BackwardReference<T, TS>(T* x, T* w, TS* mean, TS* rstd, T* dy, int n, int c, T* dx, T* dw, T* db)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, Math.Max(1, 4096 / Math.Max(c, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                double mu = double.CreateTruncating(mean[r]), rs = double.CreateTruncating(rstd[r]);
                double mg = 0, mgx = 0;
                for (int i = 0; i < c; i++)
                {
                    double xh = (double.CreateTruncating(x[r * c + i]) - mu) * rs;
                    double gh = double.CreateTruncating(dy[r * c + i]) * (w != null ? double.CreateTruncating(w[i]) : 1);
                    mg += gh;
                    mgx += gh * xh;
                }
                mg /= c;
                mgx /= c;
                for (int i = 0; i < c; i++)
                {
                    double xh = (double.CreateTruncating(x[r * c + i]) - mu) * rs;
                    double gh = double.CreateTruncating(dy[r * c + i]) * (w != null ? double.CreateTruncating(w[i]) : 1);
                    dx[r * c + i] = T.CreateTruncating(rs * (gh - mg - xh * mgx));
                }
            }
        });
        if (dw == null && db == null) return;
        Par.For(c, 64, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                double sw = 0, sb = 0;
                for (int r = 0; r < n; r++)
                {
                    double g = double.CreateTruncating(dy[(long)r * c + i]);
                    double xh = (double.CreateTruncating(x[(long)r * c + i]) - double.CreateTruncating(mean[r])) * double.CreateTruncating(rstd[r]);
                    sw += g * xh;
                    sb += g;
                }
                if (dw != null) dw[i] = T.CreateTruncating(sw);
                if (db != null) db[i] = T.CreateTruncating(sb);
            }
        });
    }

    /// <summary>
    /// Fast f32 backward of LayerNorm (or of RMSNorm when <paramref name="rms"/>: mean = 0 and no mean(ĝ) term).
    /// Rows run in parallel; dw and db are summed per worker and then added.
    /// </summary>
    public static void BackwardFast(float* x, float* w, float* mean, float* rstd, float* dy, int n, int c, float* dx,
        float* dw, float* db, bool rms)
    {
        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, n));
        var dwPart = dw != null ? new float[workers * c] : null;
        var dbPart = db != null ? new float[workers * c] : null;
        Parallel.For(0, workers, t =>
        {
            var xh = new float[c];
            var gh = new float[c];
            int r0 = (int)((long)n * t / workers), r1 = (int)((long)n * (t + 1) / workers);
            var dwt = dwPart is null ? Span<float>.Empty : dwPart.AsSpan(t * c, c);
            var dbt = dbPart is null ? Span<float>.Empty : dbPart.AsSpan(t * c, c);
            for (int r = r0; r < r1; r++)
            {
                var xr = new ReadOnlySpan<float>(x + (long)r * c, c);
                var dyr = new ReadOnlySpan<float>(dy + (long)r * c, c);
                float rs = rstd[r];
                if (rms) TensorPrimitives.Multiply(xr, rs, xh);
                else
                {
                    TensorPrimitives.Subtract(xr, mean[r], xh);
                    TensorPrimitives.Multiply(xh, rs, xh);
                }
                if (w != null) TensorPrimitives.Multiply(dyr, new ReadOnlySpan<float>(w, c), gh);
                else dyr.CopyTo(gh);
                float mg = rms ? 0 : TensorPrimitives.Sum(gh) / c;
                float mgx = TensorPrimitives.Dot(gh, xh) / c;
                var dxr = new Span<float>(dx + (long)r * c, c);
                // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
                TensorPrimitives.MultiplyAdd(xh, -mgx, gh, dxr);
                TensorPrimitives.Add(dxr, -mg, dxr);
                TensorPrimitives.Multiply(dxr, rs, dxr);
                if (dwPart is not null) TensorPrimitives.MultiplyAdd(dyr, xh, dwt, dwt);
                if (dbPart is not null) TensorPrimitives.Add(dbt, dyr, dbt);
            }
        });
        for (int i = 0; i < c; i++)
        {
            if (dw != null)
            {
                double a = 0;
                for (int t = 0; t < workers; t++) a += dwPart![t * c + i];
                dw[i] = (float)a;
            }
            if (db != null)
            {
                double a = 0;
                for (int t = 0; t < workers; t++) a += dbPart![t * c + i];
                db[i] = (float)a;
            }
        }
    }

    internal static Tensor Apply(Tensor x, Tensor? w, Tensor? b, double eps)
    {
        Dispatch.Float("LayerNorm", x);
        Dispatch.Same("LayerNorm", x, w);
        Dispatch.Same("LayerNorm", x, b);
        int c = x.Dim(-1);
        if (w is not null && (w.Rank != 1 || w.Dim(0) != c)) throw new ShapeMismatchException("LayerNorm", x.ShapeSpan, w.ShapeSpan, x.Rank - 1, "weight must be (C)");
        if (b is not null && (b.Rank != 1 || b.Dim(0) != c)) throw new ShapeMismatchException("LayerNorm", x.ShapeSpan, b.ShapeSpan, x.Rank - 1, "bias must be (C)");
        var be = Dispatch.Backend(OpKind.LayerNorm, x);
        int n = (int)(x.Numel / Math.Max(c, 1));
        using var xc = Dispatch.C(x);
        using var wc = w is null ? null : Dispatch.C(w);
        using var bc = b is null ? null : Dispatch.C(b);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        using var mean = Tensor.Empty([n], Dispatch.StatType(x.DType), x.Device);
        using var rstd = Tensor.Empty([n], Dispatch.StatType(x.DType), x.Device);
        be.LayerNorm(xc, wc, bc, eps, y, mean, rstd);
        return Autograd.Record(y, OpKind.LayerNorm, "LayerNorm", [x, w, b], [xc, wc, mean, rstd], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var X = node.Saved[0]!;
            var dx = Tensor.Empty(X.Shape, X.DType, X.Device);
            var dw = node.NeedsInputGrad(1) ? Tensor.Empty([c], X.DType, X.Device) : null;
            var db = node.NeedsInputGrad(2) ? Tensor.Empty([c], X.DType, X.Device) : null;
            Backends.For(g.Device).LayerNormBackward(X, node.Saved[1], node.Saved[2]!, node.Saved[3]!, gc, dx, dw, db);
            return [node.NeedsInputGrad(0) ? dx : null, dw, db];
        });
    }
}
