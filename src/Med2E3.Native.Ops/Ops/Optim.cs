using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// AdamW (torch.optim.AdamW semantics) and global gradient-norm clipping (torch.nn.utils.clip_grad_norm_).
/// Step t: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − (lr / (1 − β1ᵗ))·m / (√v / √(1 − β2ᵗ) + ε).
/// </summary>
public static unsafe class Optim
{
    /// <summary>Reference AdamW step over n contiguous elements (math in double).</summary>
    public static void AdamWReference<T>(T* p, T* g, T* m, T* v, long n, AdamWParams hp) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double bc1 = 1 - Math.Pow(hp.Beta1, hp.Step), bc2 = 1 - Math.Pow(hp.Beta2, hp.Step);
        double stepSize = hp.Lr / bc1, sq2 = Math.Sqrt(bc2);
        Par.For(n, 1 << 14, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                double pi = double.CreateTruncating(p[i]) * (1 - hp.Lr * hp.WeightDecay);
                double gi = double.CreateTruncating(g[i]);
                double mi = hp.Beta1 * double.CreateTruncating(m[i]) + (1 - hp.Beta1) * gi;
                double vi = hp.Beta2 * double.CreateTruncating(v[i]) + (1 - hp.Beta2) * gi * gi;
                pi -= stepSize * mi / (Math.Sqrt(vi) / sq2 + hp.Eps);
                p[i] = T.CreateTruncating(pi);
                m[i] = T.CreateTruncating(mi);
                v[i] = T.CreateTruncating(vi);
            }
        });
    }

    /// <summary>Σ x² in double.</summary>
    public static double SumOfSquaresReference<T>(T* x, long n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double acc = 0;
        for (long i = 0; i < n; i++)
        {
            double d = double.CreateTruncating(x[i]);
            acc += d * d;
        }
        return acc;
    }

    internal static void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams hp)
    {
        foreach (var t in new[] { grad, m, v })
        {
            Dispatch.Same("AdamW", param, t);
            if (!Shapes.Equal(param.ShapeSpan, t.ShapeSpan)) throw new ShapeMismatchException("AdamW", param.ShapeSpan, t.ShapeSpan, -1);
        }
        if (!param.IsContiguous || !m.IsContiguous || !v.IsContiguous)
            throw new ArgumentException("Optim.cs: AdamW needs contiguous parameter and state tensors");
        var be = Dispatch.Backend(OpKind.AdamW, param);
        using var gc = Dispatch.C(grad);
        be.AdamW(param, gc, m, v, hp);
    }

    internal static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList();
        double total = 0;
        foreach (var g in grads)
        {
            var be = Dispatch.Backend(OpKind.ClipGradNorm, g);
            using var gc = Dispatch.C(g);
            total += be.SumOfSquares(gc);
        }
        double norm = Math.Sqrt(total);
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1)
        {
            foreach (var g in grads)
            {
                var be = Backends.For(g.Device);
                be.Scale(g, coef, 0, g);
            }
        }
        return norm;
    }
}
