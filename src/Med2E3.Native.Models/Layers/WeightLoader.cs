using System.Runtime.InteropServices;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// Turns checkpoint tensors of one component into parameters on the compute device. Keys are looked up exactly as
/// they are stored (STYLE §11: field paths mirror checkpoint keys), shapes are checked, and every value is widened
/// exactly (bf16/f16 → f32) before it is cast to the compute dtype. On the CPU in f32, linear weights are taken as
/// <see cref="PreparedLinear"/>s made once from their stored bytes (<see cref="TakeLinear"/>).
/// </summary>
public sealed class WeightLoader
{
    private readonly StateDict _weights;
    private readonly string _component;
    private readonly ParameterSet _parameters;
    private readonly string _prefix;

    /// <summary>Loads from <paramref name="weights"/>; parameters are named "<paramref name="component"/>.key".</summary>
    public WeightLoader(StateDict weights, string component, ParameterSet parameters, Device device, DType dtype)
        : this(weights, component, parameters, device, dtype, CpuPrecision.F32, "")
    {
    }

    /// <summary>
    /// Loads from <paramref name="weights"/>; on the CPU in f32 linear weights are prepared for
    /// <paramref name="precision"/>.
    /// </summary>
    public WeightLoader(StateDict weights, string component, ParameterSet parameters, Device device, DType dtype,
        CpuPrecision precision)
        : this(weights, component, parameters, device, dtype, precision, "")
    {
    }

    private WeightLoader(StateDict weights, string component, ParameterSet parameters, Device device, DType dtype,
        CpuPrecision precision, string prefix)
    {
        Precision = precision;
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

    /// <summary>Precision of the prepared linear weights (CPU, f32 compute).</summary>
    public CpuPrecision Precision { get; }

    /// <summary>True when <see cref="Linear.Load"/> takes weights as <see cref="PreparedLinear"/>s: CPU, f32 compute.</summary>
    public bool PreparesLinears => Device.Kind == DeviceKind.Cpu && DType == DType.F32;

    /// <summary>A loader for the keys under <paramref name="prefix"/> (which ends in '.').</summary>
    public WeightLoader Sub(string prefix) =>
        new(_weights, _component, _parameters, Device, DType, Precision, _prefix + prefix);

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

    /// <summary>
    /// The linear weight stored under <paramref name="key"/> as [<paramref name="outFeatures"/>,
    /// <paramref name="inFeatures"/>], prepared once from its stored bytes (bf16, f16 and f32 stay as stored; other
    /// floating types are rounded to f32 first), with <paramref name="bias"/> beside it. The set owns the prepared
    /// weight. CPU and f32 compute only (<see cref="PreparesLinears"/>).
    /// </summary>
    public Linear TakeLinear(string key, int outFeatures, int inFeatures, Tensor? bias)
    {
        if (!PreparesLinears)
        {
            throw new InvalidOperationException(
                $"WeightLoader.cs: prepared linear weights are for the CPU in f32, not {Device} {DType} ({key})");
        }
        string full = _prefix + key;
        WeightTensor w = _weights.Get(full, outFeatures, inFeatures);
        PreparedLinear prepared;
        try
        {
            switch (w.DType)
            {
                case StorageDType.F32:
                case StorageDType.BF16:
                case StorageDType.F16:
                    // Straight from the memory-mapped checkpoint where the layout allows: no copy of the file.
                    var storage = ToWeightStorage(w.DType);
                    prepared = w.WithStoredBytes(bytes =>
                        PreparedLinear.Create(bytes, storage, outFeatures, inFeatures, Precision));
                    break;
                default:
                    float[] values = w.ToFloat32();
                    prepared = PreparedLinear.Create(MemoryMarshal.AsBytes(values.AsSpan()), WeightStorage.F32,
                        outFeatures, inFeatures, Precision);
                    break;
            }
        }
        finally
        {
            w.ReleaseCache();
        }
        var linear = new Linear(prepared, bias);
        _parameters.AddPrepared(_component + "." + full, linear);
        return linear;
    }

    private static WeightStorage ToWeightStorage(StorageDType t) => t switch
    {
        StorageDType.F32 => WeightStorage.F32,
        StorageDType.BF16 => WeightStorage.Bf16,
        StorageDType.F16 => WeightStorage.F16,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a storage dtype of prepared weights"),
    };
}
