using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>RMSNorm over the last axis: x/√(mean(x²) + eps)·w (Phi-3, no bias).</summary>
public sealed class RmsNorm
{
    public RmsNorm(Tensor weight, double eps)
    {
        Weight = weight;
        Eps = eps;
    }

    public Tensor Weight { get; }

    public double Eps { get; }

    /// <summary>Loads <c>{key}.weight</c> [C].</summary>
    public static RmsNorm Load(WeightLoader w, string key, int channels, double eps) =>
        new(w.Take(key + ".weight", channels), eps);

    /// <summary>(…, C) → (…, C).</summary>
    public Tensor Forward(Tensor x) => F.RmsNorm(x, Weight, Eps); // (…, C)
}
