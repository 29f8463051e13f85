using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// Every weight tensor of a model, by its full name "component.checkpoint_key" (for example
/// <c>llm.model.layers.0.self_attn.qkv_proj.weight</c>). The set owns the tensors and disposes them.
/// </summary>
public sealed class ParameterSet : IDisposable
{
    private readonly List<Tensor> _ordered = [];
    private readonly Dictionary<string, Tensor> _byName = new(StringComparer.Ordinal);

    /// <summary>The parameters in load order.</summary>
    public IReadOnlyList<Tensor> All => _ordered;

    /// <summary>Number of parameter tensors.</summary>
    public int Count => _ordered.Count;

    /// <summary>Sum of the element counts.</summary>
    public long ElementCount => _ordered.Sum(t => t.Numel);

    /// <summary>The parameter called <paramref name="name"/>.</summary>
    public Tensor this[string name] => _byName.TryGetValue(name, out var t)
        ? t
        : throw new KeyNotFoundException($"ParameterSet.cs: no parameter named '{name}'");

    /// <summary>True when a parameter called <paramref name="name"/> was loaded.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Takes ownership of <paramref name="t"/> under <paramref name="name"/>.</summary>
    public Tensor Add(string name, Tensor t)
    {
        if (!_byName.TryAdd(name, t))
        {
            throw new InvalidOperationException($"ParameterSet.cs: parameter '{name}' loaded twice");
        }
        TensorScope.Detach(t);
        t.Name = name;
        _ordered.Add(t);
        return t;
    }

    /// <summary>The parameters whose name starts with <paramref name="prefix"/> (e.g. "llm.").</summary>
    public IEnumerable<Tensor> WithPrefix(string prefix) =>
        _ordered.Where(t => t.Name!.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Drops every accumulated gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var t in _ordered) t.ZeroGrad();
    }

    /// <summary>Disposes every parameter (and its gradient).</summary>
    public void Dispose()
    {
        foreach (var t in _ordered) t.Dispose();
        _ordered.Clear();
        _byName.Clear();
    }
}
