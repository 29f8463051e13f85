using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// The <c>mlp2x_gelu</c> projector of Med-2E3 (spec §5.1): Linear(in→out) → GELU (exact erf) → Linear(out→out),
/// token-wise. Checkpoint keys are <c>{key}.0.*</c> and <c>{key}.2.*</c> (index 1 is the parameter-free GELU).
/// </summary>
public sealed class Mlp2xGelu
{
    public Mlp2xGelu(Linear first, Linear second)
    {
        First = first;
        Second = second;
    }

    /// <summary><c>{key}.0</c>: Linear(in→out).</summary>
    public Linear First { get; }

    /// <summary><c>{key}.2</c>: Linear(out→out).</summary>
    public Linear Second { get; }

    public static Mlp2xGelu Load(WeightLoader w, string key, int inFeatures, int outFeatures) =>
        new(Linear.Load(w, key + ".0", inFeatures, outFeatures), Linear.Load(w, key + ".2", outFeatures, outFeatures));

    /// <summary>(…, in) → (…, out).</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = TensorScope.Begin();
        var h = First.Forward(x);                       // (…, out)
        var g = F.Gelu(h);                              // (…, out)
        return scope.Keep(Second.Forward(g));           // (…, out)
    }
}
