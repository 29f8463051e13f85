using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// y = x·Wᵀ + b with W stored [out, in] (PyTorch <c>nn.Linear</c>). W is either a parameter <see cref="Tensor"/>
/// (CUDA, f64, trainable weights) or a frozen <see cref="PreparedLinear"/> made once at load on the CPU in f32, held
/// in its storage dtype or a packed form of it. <see cref="MakeTrainable"/> turns a prepared weight into an f32
/// parameter tensor (fine-tuning).
/// </summary>
public sealed class Linear
{
    /// <summary>A linear layer over a parameter tensor W [out, in].</summary>
    public Linear(Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(weight);
        Weight = weight;
        Bias = bias;
        InFeatures = weight.Dim(1);
        OutFeatures = weight.Dim(0);
    }

    /// <summary>A linear layer over a frozen prepared weight (CPU, f32 activations).</summary>
    public Linear(PreparedLinear prepared, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        Prepared = prepared;
        Bias = bias;
        InFeatures = prepared.InFeatures;
        OutFeatures = prepared.OutFeatures;
    }

    /// <summary>W [out, in] as a parameter tensor; null while the weight is held as <see cref="Prepared"/>.</summary>
    public Tensor? Weight { get; private set; }

    /// <summary>W prepared once for CPU inference; null when the weight is a tensor.</summary>
    public PreparedLinear? Prepared { get; private set; }

    /// <summary>b [out] or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Columns of W.</summary>
    public int InFeatures { get; }

    /// <summary>Rows of W.</summary>
    public int OutFeatures { get; }

    /// <summary>
    /// Loads <c>{key}.weight</c> [out, in] and, when <paramref name="bias"/>, <c>{key}.bias</c> [out]. On the CPU in
    /// f32 the weight becomes a <see cref="PreparedLinear"/> in the loader's precision (<see cref="WeightLoader.TakeLinear"/>).
    /// </summary>
    public static Linear Load(WeightLoader w, string key, int inFeatures, int outFeatures, bool bias = true)
    {
        var b = bias ? w.Take(key + ".bias", outFeatures) : null;
        return w.PreparesLinears
            ? w.TakeLinear(key + ".weight", outFeatures, inFeatures, b)
            : new Linear(w.Take(key + ".weight", outFeatures, inFeatures), b);
    }

    /// <summary>(…, in) → (…, out).</summary>
    public Tensor Forward(Tensor x) => Prepared is { } p ? F.Linear(x, p, Bias) : F.Linear(x, Weight!, Bias); // (…, out)

    /// <summary>
    /// Replaces a prepared weight by the f32 tensor of exactly its values (<see cref="PreparedLinear.Unpack"/>) and
    /// disposes the prepared one; returns the new tensor (the caller registers it). A tensor weight is returned as is.
    /// </summary>
    internal Tensor MakeTrainable()
    {
        if (Weight is not null) return Weight;
        var p = Prepared!;
        var values = new float[(long)OutFeatures * InFeatures];
        p.Unpack(values);
        var t = Tensor.FromFloats(values, [OutFeatures, InFeatures], DType.F32, Device.Cpu);   // (out, in)
        TensorScope.Detach(t);
        Weight = t;
        Prepared = null;
        p.Dispose();
        return t;
    }
}
