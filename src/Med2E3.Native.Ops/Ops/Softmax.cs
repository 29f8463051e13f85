using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Softmax over the last axis with an optional additive key mask (B, Tk) and a causal flag. Rows whose logits are all
/// −∞ produce zeros (not NaN).
/// </summary>
public static unsafe class Softmax
{
    /// <summary>
    /// Reference. x (rows, tk) contiguous, rows = batch·rowsPerBatch; query index i = row mod tq; key j is masked
    /// when causal and j &gt; i + (tk − tq). Sums in double.
    /// </summary>
    public static void Reference<T>(T* x, T* mask, bool causal, int batch, int tq, long rows, int tk, T* y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long perBatch = rows / Math.Max(batch, 1);
        Par.For(rows, 16, (s, e) =>
        {
            var v = new double[tk];
            for (long row = s; row < e; row++)
            {
                long b = row / perBatch;
                long i = row % tq;
                T* xr = x + row * tk;
                T* yr = y + row * tk;
                double m = double.NegativeInfinity;
                for (int j = 0; j < tk; j++)
                {
                    double val = double.CreateTruncating(xr[j]);
                    if (mask != null) val += double.CreateTruncating(mask[b * tk + j]);
                    if (causal && j > i + (tk - tq)) val = double.NegativeInfinity;
                    v[j] = val;
                    if (val > m) m = val;
                }
                if (double.IsNegativeInfinity(m))
                {
                    for (int j = 0; j < tk; j++) yr[j] = T.Zero;
                    continue;
                }
                double sum = 0;
                for (int j = 0; j < tk; j++)
                {
                    v[j] = Math.Exp(v[j] - m);
                    sum += v[j];
                }
                for (int j = 0; j < tk; j++) yr[j] = T.CreateTruncating(v[j] / sum);
            }
        });
    }

    /// <summary>Fast f32 path: vectorised max / exp / sum per row.</summary>
    public static void Fast(float* x, float* mask, bool causal, int batch, int tq, long rows, int tk, float* y)
    {
        long perBatch = rows / Math.Max(batch, 1);
        Par.For(rows, Math.Max(1, 8192 / Math.Max(tk, 1)), (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                long b = row / perBatch;
                long i = row % tq;
                var yr = new Span<float>(y + row * tk, tk);
                int valid = causal ? (int)Math.Clamp(i + (tk - tq) + 1, 0, tk) : tk;
                var xr = new ReadOnlySpan<float>(x + row * tk, valid);
                var yv = yr[..valid];
                if (mask != null) TensorPrimitives.Add(xr, new ReadOnlySpan<float>(mask + b * tk, valid), yv);
                else xr.CopyTo(yv);
                yr[valid..].Clear();
                float m = valid > 0 ? TensorPrimitives.Max(yv) : float.NegativeInfinity;
                if (float.IsNegativeInfinity(m) || float.IsNaN(m))
                {
                    if (float.IsNegativeInfinity(m) || valid == 0) yr.Clear();
                    else yr.Fill(float.NaN);
                    continue;
                }
                float sum = VectorMath.ExpShiftSum(yv, m);
                TensorPrimitives.Multiply(yv, 1f / sum, yv);
            }
        });
    }

    /// <summary>Reference gradient: dx = y ⊙ (dy − Σ y·dy) per row.</summary>
    public static void BackwardReference<T>(T* y, T* dy, T* dx, long rows, int tk) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(rows, 16, (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                T* yr = y + row * tk, dyr = dy + row * tk, dxr = dx + row * tk;
                double dot = 0;
                for (int j = 0; j < tk; j++) dot += double.CreateTruncating(yr[j]) * double.CreateTruncating(dyr[j]);
                for (int j = 0; j < tk; j++)
                    dxr[j] = T.CreateTruncating(double.CreateTruncating(yr[j]) * (double.CreateTruncating(dyr[j]) - dot));
            }
        });
    }

    /// <summary>Fast f32 backward (vectorised dot and update per row).</summary>
    public static void BackwardFast(float* y, float* dy, float* dx, long rows, int tk)
    {
        Par.For(rows, Math.Max(1, 8192 / Math.Max(tk, 1)), (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                var yr = new ReadOnlySpan<float>(y + row * tk, tk);
                var dyr = new ReadOnlySpan<float>(dy + row * tk, tk);
                var dxr = new Span<float>(dx + row * tk, tk);
                float dot = TensorPrimitives.Dot(yr, dyr);
                TensorPrimitives.Subtract(dyr, dot, dxr);
                TensorPrimitives.Multiply(dxr, yr, dxr);
            }
        });
    }

    internal static Tensor Apply(Tensor x, Tensor? keyMask, bool causal)
    {
        Dispatch.Float("Softmax", x);
        Dispatch.Same("Softmax", x, keyMask);
        if (x.Rank < 1) throw new ShapeMismatchException("Softmax", x.ShapeSpan, "needs rank ≥ 1");
        int tk = x.Dim(-1);
        int tq = causal ? (x.Rank >= 2 ? x.Dim(-2) : 1) : 1;
        int batch = 1;
        if (keyMask is not null)
        {
            batch = x.Rank >= 2 ? x.Dim(0) : 1;
            if (keyMask.Rank != 2 || keyMask.Dim(0) != batch || keyMask.Dim(1) != tk)
                throw new ShapeMismatchException("Softmax", x.ShapeSpan, keyMask.ShapeSpan, -1, "key mask must be (B, Tk)");
        }
        var be = Dispatch.Backend(OpKind.Softmax, x);
        using var xc = Dispatch.C(x);
        using var mc = keyMask is null ? null : Dispatch.C(keyMask);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        be.Softmax(xc, mc, causal, batch, tq, y);
        return Autograd.Record(y, OpKind.Softmax, "Softmax", [x], [y], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(g.Shape, g.DType, g.Device);
            Backends.For(g.Device).SoftmaxBackward(node.Saved[0]!, gc, dx);
            return [dx];
        });
    }
}
