using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Matrix products: batched <c>MatMul</c> with NumPy batch broadcasting, and <c>Linear</c> y = x·Wᵀ + b with
/// W stored [out, in]. Transposed operands are passed to the kernel as flags, never copied.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>
    /// Reference: for every batch index, c[i, j] = alpha·Σp op(a)[i, p]·op(b)[p, j] + beta·c[i, j] + bias[j],
    /// accumulated in double. a has <paramref name="ba"/> batches, b has <paramref name="bb"/> (1 or batch).
    /// </summary>
    public static void Reference<T>(T* a, bool transA, T* b, bool transB, T* c, T* bias, int batch, int ba, int bb,
        int m, int n, int k, double alpha, double beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For((long)batch * m, Math.Max(1, 4096 / Math.Max(1, n * Math.Max(k, 1) / 64 + 1)), (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                int bi = (int)(row / m), i = (int)(row % m);
                T* A = a + (ba == 1 ? 0 : (long)bi * m * k);
                T* B = b + (bb == 1 ? 0 : (long)bi * k * n);
                T* C = c + (long)bi * m * n + (long)i * n;
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double av = double.CreateTruncating(transA ? A[(long)p * m + i] : A[(long)i * k + p]);
                        double bv = double.CreateTruncating(transB ? B[(long)j * k + p] : B[(long)p * n + j]);
                        acc += av * bv;
                    }
                    double v = alpha * acc;
                    if (beta != 0) v += beta * double.CreateTruncating(C[j]);
                    if (bias != null) v += double.CreateTruncating(bias[j]);
                    C[j] = T.CreateTruncating(v);
                }
            }
        });
    }

    /// <summary>Fast f32 path: the blocked GEMM per batch (batches in parallel when each is small).</summary>
    public static void Fast(float* a, bool transA, float* b, bool transB, float* c, float* bias, int batch, int ba,
        int bb, int m, int n, int k, float alpha, float beta)
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        long work = (long)m * n * k;
        if (batch > 1 && work < (1L << 22))
        {
            Parallel.For(0, batch, bi => Gemm.Sgemm(transA, transB, m, n, k, alpha,
                a + (ba == 1 ? 0 : (long)bi * m * k), lda, b + (bb == 1 ? 0 : (long)bi * k * n), ldb, beta,
                c + (long)bi * m * n, n, bias, parallel: false));
            return;
        }
        for (int bi = 0; bi < batch; bi++)
            Gemm.Sgemm(transA, transB, m, n, k, alpha, a + (ba == 1 ? 0 : (long)bi * m * k), lda,
                b + (bb == 1 ? 0 : (long)bi * k * n), ldb, beta, c + (long)bi * m * n, n, bias);
    }

    /// <summary>
    /// Prepares an operand (..., R, Cc) broadcast to <paramref name="batchShape"/> as a kernel input (Bx, R, Cc) or,
    /// when it is a transposed contiguous view, as (Bx, Cc, R) with <paramref name="trans"/> set.
    /// </summary>
    private static Tensor Operand(Tensor x, int[] batchShape, int batchN, out bool trans, out int bx)
    {
        int r = x.Dim(-2), cc = x.Dim(-1);
        long xb = x.Numel / Math.Max(1L, (long)r * cc);
        Tensor v;
        if (xb == 1 || x.Rank == 2)
        {
            v = x.MakeView([1, r, cc], [r * cc, x.StridesSpan[^2], x.StridesSpan[^1]], x.Offset);
            bx = 1;
        }
        else
        {
            using var ex = x.ExpandNoGrad([.. batchShape, r, cc]);
            v = ex.ReshapeNoGrad([batchN, r, cc]);
            bx = batchN;
        }
        if (v.IsContiguous)
        {
            trans = false;
            return v;
        }
        using (var t = v.PermuteNoGrad([0, 2, 1]))
        {
            if (t.IsContiguous)
            {
                trans = true;
                v.Dispose();
                return t.AliasNoGrad();
            }
        }
        trans = false;
        var cpy = v.ContiguousCopyNoGrad();
        v.Dispose();
        return cpy;
    }

    internal static Tensor Apply(Tensor a, Tensor b)
    {
        Dispatch.Same("MatMul", a, b);
        Dispatch.Float("MatMul", a);
        if (a.Rank < 2 || b.Rank < 2) throw new ShapeMismatchException("MatMul", a.ShapeSpan, b.ShapeSpan, -1, "both operands need rank ≥ 2");
        if (a.Dim(-1) != b.Dim(-2)) throw new ShapeMismatchException("MatMul", a.ShapeSpan, b.ShapeSpan, a.Rank - 1, "inner dimensions differ");
        var be = Dispatch.Backend(OpKind.MatMul, a);
        int m = a.Dim(-2), k = a.Dim(-1), n = b.Dim(-1);
        var batchShape = Shapes.Broadcast(a.ShapeSpan[..^2], b.ShapeSpan[..^2], "MatMul");
        int batchN = (int)Shapes.Numel(batchShape);
        var y = Tensor.Empty([.. batchShape, m, n], a.DType, a.Device);
        using (var ka = Operand(a, batchShape, batchN, out bool ta, out int ba))
        using (var kb = Operand(b, batchShape, batchN, out bool tb, out int bb))
        {
            _ = ba;
            _ = bb;
            be.MatMul(ka, ta, kb, tb, y, null, 1, 0);
        }
        var sa = a.Shape;
        var sb = b.Shape;
        return Autograd.Record(y, OpKind.MatMul, "MatMul", [a, b], [a, b], (node, g) =>
        {
            Tensor? da = null, db = null;
            var A = node.Saved[0]!;
            var B = node.Saved[1]!;
            if (node.NeedsInputGrad(0))
            {
                using var bt = B.PermuteNoGrad(SwapLast(B.Rank));
                using var full = Apply(g, bt);
                da = TensorMath.SumTo(full, sa);
            }
            if (node.NeedsInputGrad(1))
            {
                using var at = A.PermuteNoGrad(SwapLast(A.Rank));
                using var full = Apply(at, g);
                db = TensorMath.SumTo(full, sb);
            }
            return [da, db];
        });
    }

    private static int[] SwapLast(int rank)
    {
        var p = Enumerable.Range(0, rank).ToArray();
        (p[^1], p[^2]) = (p[^2], p[^1]);
        return p;
    }

    internal static Tensor Linear(Tensor x, Tensor w, Tensor? bias)
    {
        Dispatch.Same("Linear", x, w);
        Dispatch.Same("Linear", x, bias);
        Dispatch.Float("Linear", x);
        if (w.Rank != 2) throw new ShapeMismatchException("Linear", w.ShapeSpan, "weight must be [out, in]");
        if (x.Rank < 1 || x.Dim(-1) != w.Dim(1))
            throw new ShapeMismatchException("Linear", x.ShapeSpan, w.ShapeSpan, x.Rank - 1, "x[..., in] vs W[out, in]");
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != w.Dim(0)))
            throw new ShapeMismatchException("Linear", bias.ShapeSpan, w.ShapeSpan, 0, "bias must be [out]");
        var be = Dispatch.Backend(OpKind.Linear, x);
        int k = w.Dim(1), n = w.Dim(0);
        int r = (int)(x.Numel / Math.Max(k, 1));
        var outShape = x.Shape;
        outShape[^1] = n;
        var y = Tensor.Empty(outShape, x.DType, x.Device);
        using var x2 = x.ReshapeNoGrad([1, r, k]);
        using var xk = x2.ContiguousNoGrad();
        using var wk = Operand(w, [], 1, out bool wt, out _);
        using var bk = bias is null ? null : Dispatch.C(bias);
        // y = x·Wᵀ: W [N, K] contiguous is the transposed operand; a transposed view of W is already [K, N].
        be.MatMul(xk, false, wk, !wt, y, bk, 1, 0);
        var xs = x.Shape;
        return Autograd.Record(y, OpKind.Linear, "Linear", [x, w, bias], [xk, w], (node, g) =>
        {
            var X = node.Saved[0]!;
            var W = node.Saved[1]!;
            using var g2 = g.ReshapeNoGrad([r, n]);
            Tensor? dx = null, dw = null, db = null;
            if (node.NeedsInputGrad(0))
            {
                using var d = Apply(g2, W);                // (N_rows, K)
                dx = d.ReshapeNoGrad(xs);
            }
            if (node.NeedsInputGrad(1))
            {
                using var gt = g2.PermuteNoGrad([1, 0]);
                using var x2d = X.ReshapeNoGrad([r, k]);
                dw = Apply(gt, x2d);                        // (N, K)
            }
            if (node.NeedsInputGrad(2)) db = Reduce.SumAxis(g2, 0, keepDim: false);
            return [dx, dw, db];
        });
    }

    /// <summary>
    /// y = x·Wᵀ + b with W a <see cref="PreparedLinear"/> (CPU, f32 activations). Differentiable in x and b (the
    /// weight is frozen): dx = dy·W through <see cref="PreparedLinear.BackwardInput"/>.
    /// </summary>
    internal static Tensor Linear(Tensor x, PreparedLinear w, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(w);
        ObjectDisposedException.ThrowIf(w.IsDisposed, w);
        Dispatch.Same("Linear", x, bias);
        if (x.Device.Kind != DeviceKind.Cpu)
            throw new DeviceMismatchException("Linear (prepared weight)", x.Device, Device.Cpu);
        if (x.DType != DType.F32)
            throw new DTypeMismatchException("Linear (prepared weight)", x.DType, DType.F32, "prepared weights take f32 activations");
        int k = w.InFeatures, n = w.OutFeatures;
        if (x.Rank < 1 || x.Dim(-1) != k)
            throw new ShapeMismatchException("Linear", x.ShapeSpan, [n, k], x.Rank - 1, "x[..., in] vs W[out, in]");
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != n || bias.DType != DType.F32))
            throw new ShapeMismatchException("Linear", bias.ShapeSpan, [n, k], 0, "bias must be f32 [out]");
        int r = (int)(x.Numel / k);
        var outShape = x.Shape;
        outShape[^1] = n;
        var y = Tensor.Empty(outShape, DType.F32, x.Device);
        using (var x2 = x.ReshapeNoGrad([r, k]))
        using (var xk = x2.ContiguousNoGrad())
        using (var bk = bias is null ? null : Dispatch.C(bias))
        {
            w.Forward((float*)xk.DataPointer, r, k, (float*)y.DataPointer, n, bk is null ? null : (float*)bk.DataPointer);
        }
        var xs = x.Shape;
        return Autograd.Record(y, OpKind.Linear, "Linear", [x, bias], [], (node, g) =>
        {
            using var g2 = g.ReshapeNoGrad([r, n]);
            using var gk = g2.ContiguousNoGrad();
            Tensor? dx = null, db = null;
            if (node.NeedsInputGrad(0))
            {
                dx = Tensor.Empty(xs, DType.F32, Device.Cpu);
                w.BackwardInput((float*)gk.DataPointer, r, (float*)dx.DataPointer);
            }
            if (node.NeedsInputGrad(1)) db = Reduce.SumAxis(g2, 0, keepDim: false);
            return [dx, db];
        });
    }
}
