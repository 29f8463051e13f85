using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// Turns checkpoint tensors of one component into parameters on the compute device. Keys are looked up exactly as
/// they are stored (STYLE §11: field paths mirror checkpoint keys), shapes are checked, and every value is widened
/// exactly (bf16/f16 → f32) before it is cast to the compute dtype.
/// </summary>
public sealed class WeightLoader
{
    private readonly StateDict _weights;
    private readonly string _component;
    private readonly ParameterSet _parameters;
    private readonly string _prefix;

    /// <summary>Loads from <paramref name="weights"/>; parameters are named "<paramref name="component"/>.key".</summary>
    public WeightLoader(StateDict weights, string component, ParameterSet parameters, Device device, DType dtype)
        : this(weights, component, parameters, device, dtype, "")
    {
    }

    private WeightLoader(StateDict weights, string component, ParameterSet parameters, Device device, DType dtype,
        string prefix)
    {
        _weights = weights;
        _component = component;
        _parameters = parameters;
        _prefix = prefix;
        Device = device;
        DType = dtype;
    }

    /// <summary>Where the parameters live.</summary>
    public Device Device { get; }

    /// <summary>Compute dtype of the parameters.</summary>
    public DType DType { get; }

    /// <summary>A loader for the keys under <paramref name="prefix"/> (which ends in '.').</summary>
    public WeightLoader Sub(string prefix) => new(_weights, _component, _parameters, Device, DType, _prefix + prefix);

    /// <summary>True when the checkpoint has <paramref name="key"/> (relative to this loader's prefix).</summary>
    public bool Has(string key) => _weights.ContainsKey(_prefix + key);

    /// <summary>
    /// The parameter stored under <paramref name="key"/> with exactly <paramref name="shape"/>.
    /// A missing key or another shape throws <see cref="CheckpointFormatException"/> naming the file.
    /// </summary>
    public Tensor Take(string key, params int[] shape)
    {
        string full = _prefix + key;
        WeightTensor w = _weights.Get(full, shape);
        float[] values = w.ToFloat32();
        w.ReleaseCache();
        var t = Tensor.FromFloats(values, shape, DType, Device);                              // (checkpoint shape)
        return _parameters.Add(_component + "." + full, t);
    }
}
