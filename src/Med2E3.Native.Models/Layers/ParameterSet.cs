using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// Every weight of a model, by its full name "component.checkpoint_key" (for example
/// <c>llm.model.layers.0.self_attn.qkv_proj.weight</c>): parameter tensors, and the frozen linear weights prepared
/// for the CPU (<see cref="PreparedLinear"/>, see <see cref="WeightLoader.TakeLinear"/>). The set owns both and
/// disposes them. Counts (<see cref="Count"/>, <see cref="ElementCount"/>) cover both kinds.
/// </summary>
public sealed class ParameterSet : IDisposable
{
    private readonly List<string> _names = [];
    private readonly List<Tensor> _ordered = [];
    private readonly Dictionary<string, Tensor> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Linear> _prepared = new(StringComparer.Ordinal);

    /// <summary>The parameter tensors in load order (prepared linear weights are not tensors: see <see cref="Prepared"/>).</summary>
    public IReadOnlyList<Tensor> All => _ordered;

    /// <summary>Number of weights: parameter tensors and prepared linear weights.</summary>
    public int Count => _names.Count;

    /// <summary>Sum of the element counts of the tensors and the prepared weights.</summary>
    public long ElementCount =>
        _ordered.Sum(t => t.Numel) + _prepared.Values.Sum(l => (long)l.OutFeatures * l.InFeatures);

    /// <summary>The prepared linear weights in load order, by name.</summary>
    public IEnumerable<KeyValuePair<string, PreparedLinear>> Prepared =>
        _names.Where(_prepared.ContainsKey).Select(n => KeyValuePair.Create(n, _prepared[n].Prepared!));

    /// <summary>Bytes held in memory by the weights: tensor bytes plus the prepared weights' native memory.</summary>
    public long ResidentBytes =>
        _ordered.Sum(t => t.Numel * t.ElementSize) + _prepared.Values.Sum(l => l.Prepared!.ResidentBytes);

    /// <summary>The parameter tensor called <paramref name="name"/>.</summary>
    public Tensor this[string name] => _byName.TryGetValue(name, out var t)
        ? t
        : throw new KeyNotFoundException(_prepared.ContainsKey(name)
            ? $"ParameterSet.cs: '{name}' is a prepared (frozen) linear weight, not a tensor; fine-tuning makes it one"
            : $"ParameterSet.cs: no parameter named '{name}'");

    /// <summary>True when a parameter tensor called <paramref name="name"/> was loaded.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>True when <paramref name="name"/> is a prepared linear weight.</summary>
    public bool IsPrepared(string name) => _prepared.ContainsKey(name);

    /// <summary>Takes ownership of <paramref name="t"/> under <paramref name="name"/>.</summary>
    public Tensor Add(string name, Tensor t)
    {
        Reserve(name);
        TensorScope.Detach(t);
        t.Name = name;
        _byName.Add(name, t);
        _ordered.Add(t);
        return t;
    }

    /// <summary>Takes ownership of the prepared weight of <paramref name="linear"/> under <paramref name="name"/>.</summary>
    public Linear AddPrepared(string name, Linear linear)
    {
        ArgumentNullException.ThrowIfNull(linear);
        if (linear.Prepared is null)
        {
            throw new ArgumentException($"ParameterSet.cs: '{name}' has no prepared weight", nameof(linear));
        }
        Reserve(name);
        _prepared.Add(name, linear);
        return linear;
    }

    private void Reserve(string name)
    {
        if (_byName.ContainsKey(name) || _prepared.ContainsKey(name))
        {
            throw new InvalidOperationException($"ParameterSet.cs: parameter '{name}' loaded twice");
        }
        _names.Add(name);
    }

    /// <summary>
    /// Turns every prepared weight whose name starts with <paramref name="prefix"/> into an f32 parameter tensor of
    /// exactly its values (<see cref="PreparedLinear.Unpack"/>), disposing the prepared one, so it can be trained.
    /// The tensors take their load-order place in <see cref="All"/>. Returns how many were turned.
    /// </summary>
    public int MakeTrainable(string prefix)
    {
        var names = _names.Where(n => _prepared.ContainsKey(n) && n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        foreach (string name in names)
        {
            Tensor t = _prepared[name].MakeTrainable();
            t.Name = name;
            _prepared.Remove(name);
            _byName.Add(name, t);
        }
        if (names.Count > 0)
        {
            _ordered.Clear();
            _ordered.AddRange(_names.Where(_byName.ContainsKey).Select(n => _byName[n]));
        }
        return names.Count;
    }

    /// <summary>The parameter tensors whose name starts with <paramref name="prefix"/> (e.g. "llm.").</summary>
    public IEnumerable<Tensor> WithPrefix(string prefix) =>
        _ordered.Where(t => t.Name!.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Drops every accumulated gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var t in _ordered) t.ZeroGrad();
    }

    /// <summary>Disposes every parameter (and its gradient) and every prepared weight.</summary>
    public void Dispose()
    {
        foreach (var t in _ordered) t.Dispose();
        foreach (var l in _prepared.Values) l.Prepared?.Dispose();
        _ordered.Clear();
        _byName.Clear();
        _prepared.Clear();
        _names.Clear();
    }
}
