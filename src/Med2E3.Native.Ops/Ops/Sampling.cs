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

    /// <summary>Integer weight of the maximum logit in <see cref="SampleReference"/>: weights are w · 2^32.</summary>
    public const double WeightScale = 4294967296.0;

    /// <summary>
    /// Samples one token id from logits (V) as transformers does (temperature → top-k → top-p with
    /// min_tokens_to_keep 1, then a multinomial draw): temperature ≤ 0 means greedy argmax and draws nothing;
    /// otherwise one <see cref="SeededRandom.NextDouble"/> is drawn on the host and handed to the backend, which runs
    /// <see cref="SampleReference"/> (CPU) or <c>sample_topp_fwd_*</c> (CUDA) with the same semantics.
    /// </summary>
    public static int SampleTopP(Tensor logits, double temperature, int topK, double topP, SeededRandom rng)
    {
        if (logits.Numel == 0) throw new ShapeMismatchException("SampleTopP", logits.ShapeSpan, "empty logits");
        using var contiguous = Dispatch.C(logits);
        using var flat = contiguous.Reshape(-1);                                            // (V)
        if (temperature <= 0)
        {
            using var best = Argmax(flat);                                                  // () I64
            using var onHost = best.To(Device.Cpu);                                         // () I64
            return (int)onHost.ToLongArray()[0];
        }
        var be = Dispatch.Backend(OpKind.SampleTopP, flat);
        int id = be.SampleTopP(flat, temperature, topK, topP, rng.NextDouble());
        if (id < 0)
            throw new ArgumentException("Sampling.cs: logits must be finite or -inf, with at least one finite value",
                nameof(logits));
        return id;
    }

    /// <summary>
    /// Reference sampler over one row (the definition the CUDA kernel matches bit for bit). With m = max l and
    /// integer weights q[j] = round_even(exp((l[j] − m) / t) · 2^32) (the maximum weighs 2^32):
    /// top-k (0 &lt; k &lt; V) keeps every l[j] ≥ the k-th largest value (ties at the boundary stay, as transformers);
    /// top-p (p &lt; 1) walks the kept tokens by (l desc, index asc) and keeps token j iff it is the first or
    /// (double)Σ_{before j} q &lt; p · (double)Σ_kept q (transformers' cumulative-probability cut, min_tokens_to_keep 1);
    /// the draw takes Q = Σ_kept q, target = min(⌊u · (double)Q⌋, Q − 1) and returns the first kept index, in index
    /// order, whose running sum of q exceeds target. All sums are exact integers, so summation order cannot change
    /// the result; only exp may differ in the last bit between implementations.
    /// </summary>
    /// <param name="l">Logits (V), each finite or −inf.</param>
    /// <param name="temperature">Temperature, &gt; 0.</param>
    /// <param name="topK">Top-k; ≤ 0 or ≥ V disables it.</param>
    /// <param name="topP">Nucleus mass; ≥ 1 disables it.</param>
    /// <param name="u">Uniform draw in [0, 1).</param>
    /// <returns>The token id, or −1 when a logit is NaN or +inf or none is finite.</returns>
    public static int SampleReference(ReadOnlySpan<double> l, double temperature, int topK, double topP, double u)
    {
        int v = l.Length;
        double m = double.NegativeInfinity;
        for (int j = 0; j < v; j++)
        {
            if (double.IsNaN(l[j]) || double.IsPositiveInfinity(l[j])) return -1;
            if (l[j] > m) m = l[j];
        }
        if (double.IsNegativeInfinity(m)) return -1;
        var q = new ulong[v];
        for (int j = 0; j < v; j++) q[j] = (ulong)Math.Round(Math.Exp((l[j] - m) / temperature) * WeightScale);

        var values = l.ToArray();
        var order = Enumerable.Range(0, v).ToArray();
        Array.Sort(order, (a, b) => values[b] > values[a] ? 1 : values[b] < values[a] ? -1 : a.CompareTo(b));
        var keep = new bool[v];
        double kth = topK > 0 && topK < v ? values[order[topK - 1]] : double.NegativeInfinity;
        for (int j = 0; j < v; j++) keep[j] = values[j] >= kth;

        if (topP < 1.0)
        {
            ulong total = 0;
            for (int j = 0; j < v; j++) if (keep[j]) total += q[j];
            double limit = topP * total;
            ulong before = 0;
            bool first = true, cut = false;
            foreach (int j in order)
            {
                if (!keep[j]) continue;
                if (!first && !(before < limit)) cut = true;
                if (cut) keep[j] = false;
                else before += q[j];
                first = false;
            }
        }

        ulong mass = 0;
        for (int j = 0; j < v; j++) if (keep[j]) mass += q[j];
        ulong target = (ulong)(u * mass);
        if (target >= mass) target = mass - 1;
        ulong acc = 0;
        for (int j = 0; j < v; j++)
        {
            if (!keep[j]) continue;
            acc += q[j];
            if (acc > target) return j;
        }
        throw new InvalidOperationException("Sampling.cs: the draw ran past the kept mass");
    }
}
