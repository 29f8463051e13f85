using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>y = x·Wᵀ + b with W stored [out, in] (PyTorch <c>nn.Linear</c>).</summary>
public sealed class Linear
{
    public Linear(Tensor weight, Tensor? bias)
    {
        Weight = weight;
        Bias = bias;
    }

    public Tensor Weight { get; }

    public Tensor? Bias { get; }

    public int InFeatures => Weight.Dim(1);

    public int OutFeatures => Weight.Dim(0);

    /// <summary>Loads <c>{key}.weight</c> [out, in] and, when <paramref name="bias"/>, <c>{key}.bias</c> [out].</summary>
    public static Linear Load(WeightLoader w, string key, int inFeatures, int outFeatures, bool bias = true) =>
        new(w.Take(key + ".weight", outFeatures, inFeatures), bias ? w.Take(key + ".bias", outFeatures) : null);

    /// <summary>(…, in) → (…, out).</summary>
    public Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias); // (…, out)
}
