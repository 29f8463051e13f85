using System.Text;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Shared;

/// <summary>Runs <see cref="OpCase"/>s and compares with their oracles under the STYLE §9 tolerances.</summary>
public static class Conformance
{
    /// <summary>Seed of every case (inputs are fresh tensors from this seed).</summary>
    public const long Seed = 20250101;

    /// <summary>Runs a case; returns its inputs and outputs as host arrays. Disposes every tensor it made.</summary>
    public static (Arr[] Inputs, Arr[] Outputs, DType[] OutputTypes) Run(OpCase c, DType dtype, Device device)
    {
        using var scope = TensorScope.Begin();
        var ins = c.Inputs(new Gen(Seed, dtype, device));
        var outs = c.Run(ins);
        return (ins.Select(Arr.Of).ToArray(), outs.Select(Arr.Of).ToArray(), outs.Select(o => o.DType).ToArray());
    }

    /// <summary>
    /// Compares every output of a run of <paramref name="c"/> with the case's oracle: the half-precision rule for bf16
    /// and f16 (unless the case is exact), the case's rule otherwise. Returns the failure reports (empty when it passes).
    /// </summary>
    public static List<string> Failures(OpCase c, DType dtype, Arr[] inputs, Arr[] outputs, string backend)
    {
        var expected = c.Oracle(inputs);
        if (expected.Length != outputs.Length) return [$"{c.Name}: {outputs.Length} outputs, the oracle has {expected.Length}"];
        var failures = new List<string>();
        for (int k = 0; k < outputs.Length; k++)
        {
            var what = $"{c.Name} [{backend} {dtype.Name()}] output {k}";
            var err = dtype.IsHalfPrecision() && c.Check != Check.Exact
                ? CompareHalf(what, outputs[k].Data, expected[k], dtype)
                : Compare(what, outputs[k].Data, expected[k], c.Check, dtype);
            if (err is not null) failures.Add(err);
        }
        return failures;
    }

    /// <summary>Null when <paramref name="d"/> matches <paramref name="r"/> under <paramref name="check"/>, else a report.</summary>
    public static string? Compare(string what, double[] d, double[] r, Check check, DType dtype)
    {
        if (d.Length != r.Length) return $"{what}: {d.Length} values, oracle has {r.Length}";
        bool f64 = dtype == DType.F64;
        var bad = new List<int>();
        double maxAbs = 0, maxRel = 0;
        for (int i = 0; i < r.Length; i++)
        {
            double e = Math.Abs(d[i] - r[i]);
            if (double.IsNaN(d[i]) != double.IsNaN(r[i]) || (double.IsInfinity(r[i]) && d[i] != r[i])) e = double.PositiveInfinity;
            else if (double.IsNaN(r[i]) || double.IsInfinity(r[i])) e = 0;
            maxAbs = Math.Max(maxAbs, e);
            if (r[i] != 0) maxRel = Math.Max(maxRel, e / Math.Abs(r[i]));
            bool ok = check switch
            {
                Check.Exact => e == 0,
                Check.Elementwise => f64 ? e <= 1e-12 + 1e-10 * Math.Abs(r[i]) : e <= 1e-5 + 1e-4 * Math.Abs(r[i]),
                _ => !double.IsInfinity(e),
            };
            if (!ok) bad.Add(i);
        }
        double nmse = Oracle.Nmse(d, r);
        bool pass = check == Check.Nmse ? bad.Count == 0 && nmse <= (f64 ? 1e-20 : 1e-7) : bad.Count == 0;
        if (pass) return null;
        return Report(what, d, r, bad, maxAbs, maxRel, nmse);
    }

    /// <summary>
    /// Half-precision rule: the NMSE of <paramref name="d"/> against the float64 oracle must be at most twice the NMSE
    /// of the oracle rounded to the same precision (the unavoidable output rounding), plus 1e-10.
    /// </summary>
    public static string? CompareHalf(string what, double[] d, double[] r, DType dtype, double referenceNmse = double.NaN)
    {
        if (d.Length != r.Length) return $"{what}: {d.Length} values, oracle has {r.Length}";
        var rounded = r.Select(x => dtype == DType.BF16 ? Precision.RoundToBf16((float)x) : Precision.RoundToF16((float)x)).Select(x => (double)x).ToArray();
        double floor = double.IsNaN(referenceNmse) ? Oracle.Nmse(rounded, r) : referenceNmse;
        double nmse = Oracle.Nmse(d, r);
        if (nmse <= 2 * floor + 1e-10) return null;
        var bad = Enumerable.Range(0, r.Length).Where(i => Math.Abs(d[i] - r[i]) > Math.Abs(rounded[i] - r[i]) * 2 + 1e-6).ToList();
        return Report($"{what} ({dtype.Name()}: NMSE {nmse:E3} > 2 × {floor:E3})", d, r, bad, 0, 0, nmse);
    }

    private static string Report(string what, double[] d, double[] r, List<int> bad, double maxAbs, double maxRel, double nmse)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{what}: {bad.Count} mismatches of {r.Length}");
        foreach (int i in bad.Take(5)) sb.AppendLine($"  [{i}] got {d[i]:R} expected {r[i]:R}");
        sb.Append($"  max abs {maxAbs:E3}, max rel {maxRel:E3}, NMSE {nmse:E3}");
        return sb.ToString();
    }

    /// <summary>
    /// Input gradients of L = Σ outputs ⊙ R (R fixed random) for the case's <see cref="OpCase.GradInputs"/>, at
    /// <paramref name="dtype"/> on <paramref name="device"/>; used to compare backward implementations.
    /// </summary>
    public static double[][] Gradients(OpCase c, DType dtype, Device device)
    {
        using var scope = TensorScope.Begin();
        var (ins, _, loss) = WeightedLoss(c, dtype, device);
        loss?.Backward();
        var r = c.GradInputs.Select(i => ins[i].Grad?.ToDoubleArray() ?? new double[ins[i].Numel]).ToArray();
        foreach (var t in ins) t.RequiresGrad = false;
        return r;
    }

    /// <summary>
    /// Float64 gradient check by central differences (step 1e-3) of L = Σ outputs ⊙ R (R fixed random) with respect to
    /// each input in <see cref="OpCase.GradInputs"/>. Returns null or a report; NMSE ≤ 1e-6 per input.
    /// </summary>
    public static string? GradCheck(OpCase c, Device device)
    {
        using var scope = TensorScope.Begin();
        var (ins, weights, loss) = WeightedLoss(c, DType.F64, device);
        if (loss is null) return $"{c.Name}: no differentiable output";
        loss.Backward();
        var sb = new StringBuilder();
        var w = weights.Select(t => t.ToDoubleArray()).ToArray();
        double Loss()
        {
            using var s2 = TensorScope.Begin();
            using var ng = new NoGradScope();
            var o = c.Run(ins);
            double acc = 0;
            for (int k = 0; k < o.Length; k++)
            {
                if (!o[k].DType.IsFloating()) continue;
                var v = o[k].ToDoubleArray();
                for (int i = 0; i < v.Length; i++) acc += v[i] * w[k][i];
            }
            return acc;
        }
        foreach (int i in c.GradInputs)
        {
            var analytic = ins[i].Grad?.ToDoubleArray() ?? new double[ins[i].Numel];
            var span = ins[i].AsSpan<double>();
            var numeric = new double[span.Length];
            const double h = 1e-3;
            for (int j = 0; j < span.Length; j++)
            {
                double orig = span[j];
                span[j] = orig + h;
                double lp = Loss();
                span = ins[i].AsSpan<double>();
                span[j] = orig - h;
                double lm = Loss();
                span = ins[i].AsSpan<double>();
                span[j] = orig;
                numeric[j] = (lp - lm) / (2 * h);
            }
            double nmse = Oracle.Nmse(analytic, numeric);
            if (nmse > 1e-6 || analytic.Any(double.IsNaN))
            {
                sb.AppendLine($"{c.Name}: input {i} gradient NMSE {nmse:E3}");
                for (int j = 0, shown = 0; j < numeric.Length && shown < 5; j++)
                    if (Math.Abs(analytic[j] - numeric[j]) > 1e-4 * (1 + Math.Abs(numeric[j])))
                    {
                        sb.AppendLine($"  [{j}] analytic {analytic[j]:R} numeric {numeric[j]:R}");
                        shown++;
                    }
            }
        }
        foreach (var t in ins) t.RequiresGrad = false;
        return sb.Length == 0 ? null : sb.ToString();
    }

    /// <summary>
    /// Fresh copies of the case's inputs (those in <see cref="OpCase.GradInputs"/> requiring grad), the fixed random
    /// weights R (float64, one per output) and L = Σ outputs ⊙ R over the differentiable outputs (null when none).
    /// Everything is made in the caller's scope.
    /// </summary>
    private static (Tensor[] Inputs, Tensor[] Weights, Tensor? Loss) WeightedLoss(OpCase c, DType dtype, Device device)
    {
        var baseIns = c.Inputs(new Gen(Seed, dtype, device));
        var ins = baseIns.Select(t => t.DType.IsFloating() ? t.Detach().Clone() : t.Alias()).ToArray();
        foreach (int i in c.GradInputs) ins[i].RequiresGrad = true;
        var outs = c.Run(ins);
        var weights = outs.Select((o, k) => Tensor.Randn(Seed + 100 + k, o.Shape, DType.F64, device)).ToArray();
        Tensor? loss = null;
        for (int k = 0; k < outs.Length; k++)
        {
            if (!outs[k].DType.IsFloating() || !outs[k].RequiresGrad) continue;
            var w = weights[k].To(outs[k].DType);
            var term = Med2E3.Native.Ops.F.Sum(Med2E3.Native.Ops.F.Mul(outs[k], w).Reshape(-1), 0);
            loss = loss is null ? term : Med2E3.Native.Ops.F.Add(loss, term);
        }
        return (ins, weights, loss);
    }
}
