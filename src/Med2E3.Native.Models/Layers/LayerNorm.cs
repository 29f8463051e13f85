using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>LayerNorm over the last axis: (x − mean)/√(var + eps)·w + b.</summary>
public sealed class LayerNorm
{
    public LayerNorm(Tensor weight, Tensor bias, double eps)
    {
        Weight = weight;
        Bias = bias;
        Eps = eps;
    }

    public Tensor Weight { get; }

    public Tensor Bias { get; }

    public double Eps { get; }

    /// <summary>Loads <c>{key}.weight</c> and <c>{key}.bias</c>, both [C].</summary>
    public static LayerNorm Load(WeightLoader w, string key, int channels, double eps) =>
        new(w.Take(key + ".weight", channels), w.Take(key + ".bias", channels), eps);

    /// <summary>(…, C) → (…, C).</summary>
    public Tensor Forward(Tensor x) => F.LayerNorm(x, Weight, Bias, Eps); // (…, C)
}
