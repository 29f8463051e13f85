using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Cross-entropy with a fused log-softmax: loss[n] = lse(logits[n]) − logits[n, target[n]], 0 where the target equals
/// ignore_index; the op returns the mean over the valid targets (NaN when there are none, as torch does).
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>Reference forward (double).</summary>
    public static void Reference<T, TS>(T* logits, long* targets, long ignoreIndex, int n, int v, TS* losses, TS* lse)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, 1, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                T* row = logits + r * v;
                double m = double.NegativeInfinity;
                for (int j = 0; j < v; j++) m = Math.Max(m, double.CreateTruncating(row[j]));
                double sum = 0;
                for (int j = 0; j < v; j++) sum += Math.Exp(double.CreateTruncating(row[j]) - m);
                double l = m + Math.Log(sum);
                lse[r] = TS.CreateTruncating(l);
                long t = targets[r];
                if (t == ignoreIndex)
                {
                    losses[r] = TS.Zero;
                    continue;
                }
                if (t < 0 || t >= v) throw new ArgumentOutOfRangeException(nameof(targets), t, $"CrossEntropy.cs: target {t} at row {r} outside [0, {v})");
                losses[r] = TS.CreateTruncating(l - double.CreateTruncating(row[t]));
            }
        });
    }

    /// <summary>Reference backward: dlogits[n] = dLoss[n]·(softmax(logits[n]) − onehot(target[n])), 0 rows where ignored.</summary>
    public static void BackwardReference<T, TS>(T* logits, long* targets, long ignoreIndex, TS* lse, TS* dLoss, int n, int v, T* dlogits)
        where T : unmanaged, IFloatingPointIeee754<T> where TS : unmanaged, IFloatingPointIeee754<TS>
    {
        Par.For(n, 1, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                long t = targets[r];
                T* dr = dlogits + r * v;
                if (t == ignoreIndex)
                {
                    new Span<T>(dr, v).Clear();
                    continue;
                }
                double l = double.CreateTruncating(lse[r]), g = double.CreateTruncating(dLoss[r]);
                for (int j = 0; j < v; j++)
                {
                    double p = Math.Exp(double.CreateTruncating(logits[r * v + j]) - l);
                    dr[j] = T.CreateTruncating(g * (p - (j == t ? 1 : 0)));
                }
            }
        });
    }

    /// <summary>Fast f32 forward: vectorised max and exp-sum per row (sum in double).</summary>
    public static void Fast(float* logits, long* targets, long ignoreIndex, int n, int v, float* losses, float* lse)
    {
        Par.For(n, 1, (s, e) =>
        {
            var tmp = new float[v];
            for (long r = s; r < e; r++)
            {
                var row = new ReadOnlySpan<float>(logits + r * v, v);
                float m = TensorPrimitives.Max(row);
                row.CopyTo(tmp);
                float sum = VectorMath.ExpShiftSum(tmp, m);
                float l = m + MathF.Log(sum);
                lse[r] = l;
                long t = targets[r];
                if (t == ignoreIndex)
                {
                    losses[r] = 0;
                    continue;
                }
                if (t < 0 || t >= v) throw new ArgumentOutOfRangeException(nameof(targets), t, $"CrossEntropy.cs: target {t} at row {r} outside [0, {v})");
                losses[r] = l - row[(int)t];
            }
        });
    }

    /// <summary>Fast f32 backward: dlogits = g·(exp(logits − lse) − onehot).</summary>
    public static void BackwardFast(float* logits, long* targets, long ignoreIndex, float* lse, float* dLoss, int n, int v, float* dlogits)
    {
        Par.For(n, 1, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                var d = new Span<float>(dlogits + r * v, v);
                long t = targets[r];
                if (t == ignoreIndex)
                {
                    d.Clear();
                    continue;
                }
                new ReadOnlySpan<float>(logits + r * v, v).CopyTo(d);
                VectorMath.ExpShiftSum(d, lse[r]);
                TensorPrimitives.Multiply(d, dLoss[r], d);
                d[(int)t] -= dLoss[r];
            }
        });
    }

    internal static Tensor Apply(Tensor logits, Tensor targets, long ignoreIndex)
    {
        Dispatch.Float("CrossEntropy", logits);
        Dispatch.Index("CrossEntropy", targets);
        Dispatch.SameDevice("CrossEntropy", logits, targets);
        int v = logits.Dim(-1);
        int n = (int)(logits.Numel / Math.Max(v, 1));
        if (targets.Numel != n) throw new ShapeMismatchException("CrossEntropy", logits.ShapeSpan, targets.ShapeSpan, -1, "one target per logits row");
        var be = Dispatch.Backend(OpKind.CrossEntropy, logits);
        using var lc0 = Dispatch.C(logits);
        using var lc = lc0.ReshapeNoGrad([n, v]);
        using var t64 = targets.DType == DType.I64 ? targets.ContiguousNoGrad() : targets.CastNoGrad(DType.I64);
        using var tc = t64.ReshapeNoGrad([n]);
        var st = Dispatch.StatType(logits.DType);
        using var losses = Tensor.Empty([n], st, logits.Device);
        using var lse = Tensor.Empty([n], st, logits.Device);
        be.CrossEntropy(lc, tc, ignoreIndex, losses, lse);
        long valid = 0;
        foreach (long t in tc.ToArray<long>()) if (t != ignoreIndex) valid++;
        double mean = losses.ToDoubleArray().Sum() / valid;
        var y = Tensor.Scalar(mean, logits.DType, logits.Device);
        var shape = logits.Shape;
        return Autograd.Record(y, OpKind.CrossEntropy, "CrossEntropy", [logits], [lc, tc, lse], (node, g) =>
        {
            double gs = g.ItemDouble() / valid;
            using var dl = Tensor.Full([n], gs, st, g.Device);
            var d = Tensor.Empty([n, v], logits.DType, g.Device);
            Backends.For(g.Device).CrossEntropyBackward(node.Saved[0]!, node.Saved[1]!, ignoreIndex, node.Saved[2]!, dl, d);
            using (d) return [d.ReshapeNoGrad(shape)];
        });
    }
}
