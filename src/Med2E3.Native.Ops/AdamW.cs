using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops;

/// <summary>
/// AdamW optimiser over a list of parameters (torch defaults β = (0.9, 0.999), ε = 1e-8). Keeps m and v per
/// parameter; <see cref="Step"/> applies the fused update to every parameter with a gradient.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly Tensor[] _params;
    private readonly Tensor?[] _m;
    private readonly Tensor?[] _v;

    /// <summary>Creates the optimiser.</summary>
    public AdamW(IEnumerable<Tensor> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    {
        _params = parameters.ToArray();
        _m = new Tensor?[_params.Length];
        _v = new Tensor?[_params.Length];
        Lr = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
    }

    /// <summary>Learning rate (may change between steps, e.g. by a schedule).</summary>
    public double Lr { get; set; }

    /// <summary>β1.</summary>
    public double Beta1 { get; }

    /// <summary>β2.</summary>
    public double Beta2 { get; }

    /// <summary>ε.</summary>
    public double Eps { get; }

    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; set; }

    /// <summary>Steps taken.</summary>
    public int StepCount { get; private set; }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        var hp = new AdamWParams(Lr, Beta1, Beta2, Eps, WeightDecay, StepCount);
        using var noGrad = new NoGradScope();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            if (p.Grad is null) continue;
            _m[i] ??= TensorScope.Detach(Tensor.Zeros(p.Shape, p.DType, p.Device));
            _v[i] ??= TensorScope.Detach(Tensor.Zeros(p.Shape, p.DType, p.Device));
            Optim.AdamWStep(p, p.Grad, _m[i]!, _v[i]!, hp);
        }
    }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _params) p.ZeroGrad();
    }

    /// <summary>Frees the moment tensors.</summary>
    public void Dispose()
    {
        foreach (var t in _m) t?.Dispose();
        foreach (var t in _v) t?.Dispose();
    }
}
