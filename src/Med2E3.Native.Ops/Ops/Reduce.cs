using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>Sum and mean over one axis. The reference accumulates in double.</summary>
public static unsafe class Reduce
{
    /// <summary>Reference: x viewed as (outer, r, inner) → y (outer, inner) = Σ (or mean) over r.</summary>
    public static void Reference<T>(ReduceOp op, T* x, int outer, int r, int inner, T* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For((long)outer * inner, 256, (s, e) =>
        {
            for (long idx = s; idx < e; idx++)
            {
                long o = idx / inner, i = idx % inner;
                double acc = 0;
                for (int j = 0; j < r; j++) acc += double.CreateTruncating(x[(o * r + j) * inner + i]);
                y[idx] = T.CreateTruncating(op == ReduceOp.Mean ? acc / r : acc);
            }
        });
    }

    /// <summary>Fast f32: rows of inner elements are added with vector ops, in float with per-row order.</summary>
    public static void Fast(ReduceOp op, float* x, int outer, int r, int inner, float* y)
    {
        if (inner == 1)
        {
            Par.For(outer, Math.Max(1, 16384 / Math.Max(r, 1)), (s, e) =>
            {
                for (long o = s; o < e; o++)
                {
                    float v = System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(x + o * r, r));
                    y[o] = op == ReduceOp.Mean ? v / r : v;
                }
            });
            return;
        }
        Par.For(outer, 1, (s, e) =>
        {
            for (long o = s; o < e; o++)
            {
                var dst = new Span<float>(y + o * inner, inner);
                dst.Clear();
                for (int j = 0; j < r; j++)
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, new ReadOnlySpan<float>(x + (o * r + j) * inner, inner), dst);
                if (op == ReduceOp.Mean) System.Numerics.Tensors.TensorPrimitives.Multiply(dst, 1f / r, dst);
            }
        });
    }

    internal static Tensor Apply(ReduceOp op, Tensor x, int axis, bool keepDim)
    {
        var kind = op == ReduceOp.Sum ? OpKind.Sum : OpKind.Mean;
        Dispatch.Float(kind.ToString(), x);
        int ax = Shapes.Axis(axis, x.Rank, kind.ToString());
        var be = Dispatch.Backend(kind, x);
        var sh = x.Shape;
        int outer = 1, inner = 1, r = sh[ax];
        for (int i = 0; i < ax; i++) outer *= sh[i];
        for (int i = ax + 1; i < sh.Length; i++) inner *= sh[i];
        var keep = x.Shape;
        keep[ax] = 1;
        var outShape = keepDim ? keep : sh.Where((_, i) => i != ax).ToArray();
        var y = Tensor.Empty(outShape, x.DType, x.Device);
        using (var xc = Dispatch.C(x)) be.Reduce(op, xc, outer, r, inner, y);
        return Autograd.Record(y, kind, kind.ToString(), [x], [], (_, g) =>
        {
            using var gk = g.ReshapeNoGrad(keep);
            using var ex = gk.ExpandNoGrad(sh);
            var d = ex.ContiguousCopyNoGrad();
            if (op == ReduceOp.Sum) return [d];
            using (d) return [Elementwise.Scale(d, 1.0 / r, 0)];
        });
    }

    internal static Tensor SumAxis(Tensor x, int axis, bool keepDim) => Apply(ReduceOp.Sum, x, axis, keepDim);
}
