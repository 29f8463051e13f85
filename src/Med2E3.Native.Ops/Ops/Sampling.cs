using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>Argmax, top-k and seeded temperature / top-k / top-p sampling over the last axis.</summary>
public static unsafe class Sampling
{
    /// <summary>Reference argmax: index of the first maximum of each row (NaN counts as the maximum, like torch).</summary>
    public static void ArgmaxReference<T>(T* x, int n, int v, long* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 1, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                T* row = x + r * v;
                long best = 0;
                for (int j = 1; j < v; j++)
                {
                    if (T.IsNaN(row[best])) break;
                    if (row[j] > row[best] || T.IsNaN(row[j])) best = j;
                }
                y[r] = best;
            }
        });
    }

    /// <summary>Reference top-k: the k largest values of each row in descending order, ties by lower index.</summary>
    public static void TopKReference<T>(T* x, int n, int v, int k, T* values, long* indices) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 1, (s, e) =>
        {
            var idx = new int[v];
            for (long r = s; r < e; r++)
            {
                T* row = x + r * v;
                for (int j = 0; j < v; j++) idx[j] = j;
                Array.Sort(idx, (a, b) =>
                {
                    int c = row[b].CompareTo(row[a]);
                    return c != 0 ? c : a.CompareTo(b);
                });
                for (int j = 0; j < k; j++)
                {
                    values[r * k + j] = row[idx[j]];
                    indices[r * k + j] = idx[j];
                }
            }
        });
    }

    internal static Tensor Argmax(Tensor x)
    {
        var be = Dispatch.Backend(OpKind.Argmax, x);
        int v = x.Dim(-1);
        using var xc = Dispatch.C(x);
        var y = Tensor.Empty(x.ShapeSpan[..^1].ToArray(), DType.I64, x.Device);
        be.Argmax(xc, y);
        return y;
    }

    internal static (Tensor Values, Tensor Indices) TopK(Tensor x, int k)
    {
        int v = x.Dim(-1);
        if (k < 1 || k > v) throw new ArgumentOutOfRangeException(nameof(k), k, $"Sampling.cs: k must be in [1, {v}]");
        var be = Dispatch.Backend(OpKind.TopK, x);
        using var xc = Dispatch.C(x);
        var sh = x.Shape;
        sh[^1] = k;
        var values = Tensor.Empty(sh, x.DType, x.Device);
        var indices = Tensor.Empty(sh, DType.I64, x.Device);
        be.TopK(xc, k, values, indices);
        return (values, indices);
    }

    /// <summary>
    /// Samples one token id from logits (V) as transformers does: temperature ≤ 0 means greedy argmax; otherwise
    /// logits / temperature, keep the top-k (k ≤ 0: all), keep the smallest prefix of the sorted probabilities whose
    /// sum reaches top-p (at least one token), renormalise and draw with <paramref name="rng"/>.
    /// </summary>
    public static int SampleTopP(Tensor logits, double temperature, int topK, double topP, SeededRandom rng)
    {
        var l = logits.ToDoubleArray();
        if (l.Length == 0) throw new ShapeMismatchException("SampleTopP", logits.ShapeSpan, "empty logits");
        if (temperature <= 0)
        {
            int best = 0;
            for (int j = 1; j < l.Length; j++) if (l[j] > l[best]) best = j;
            return best;
        }
        var order = Enumerable.Range(0, l.Length).ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = l[b].CompareTo(l[a]);
            return c != 0 ? c : a.CompareTo(b);
        });
        int keep = topK > 0 ? Math.Min(topK, l.Length) : l.Length;
        double m = l[order[0]] / temperature;
        var p = new double[keep];
        double sum = 0;
        for (int j = 0; j < keep; j++)
        {
            p[j] = Math.Exp(l[order[j]] / temperature - m);
            sum += p[j];
        }
        for (int j = 0; j < keep; j++) p[j] /= sum;
        if (topP < 1.0)
        {
            double cum = 0;
            int cut = keep;
            for (int j = 0; j < keep; j++)
            {
                cum += p[j];
                if (cum >= topP)
                {
                    cut = j + 1;
                    break;
                }
            }
            keep = Math.Max(1, cut);
            double s2 = 0;
            for (int j = 0; j < keep; j++) s2 += p[j];
            for (int j = 0; j < keep; j++) p[j] /= s2;
        }
        double u = rng.NextDouble(), acc = 0;
        for (int j = 0; j < keep; j++)
        {
            acc += p[j];
            if (u < acc) return order[j];
        }
        return order[keep - 1];
    }
}
