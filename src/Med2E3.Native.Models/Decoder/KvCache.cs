using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Decoder;

/// <summary>
/// Keys (after RoPE) and values of every decoder layer for the positions seen so far (spec §6.4): per layer two
/// preallocated (B, Hkv, capacity, Dh) buffers; <see cref="Append"/> writes new positions in place (not recorded
/// by autograd) and returns views over everything cached. Dispose it after generation.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;
    private readonly int[] _lengths;

    public KvCache(int layers, int batch, int kvHeads, int capacity, int headDim, DType dtype, Device device)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "KvCache.cs: capacity must be positive");
        Capacity = capacity;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        _lengths = new int[layers];
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = TensorScope.Detach(Tensor.Zeros([batch, kvHeads, capacity, headDim], dtype, device));   // (B, Hkv, Tmax, Dh)
            _values[i] = TensorScope.Detach(Tensor.Zeros([batch, kvHeads, capacity, headDim], dtype, device)); // (B, Hkv, Tmax, Dh)
        }
    }

    /// <summary>Most positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Positions cached so far (after all layers of the last step have appended).</summary>
    public int Length => _lengths[^1];

    /// <summary>
    /// Stores k, v (B, Hkv, T, Dh) of <paramref name="layer"/> after the cached positions and returns the views
    /// (B, Hkv, cached + T, Dh) over all of them.
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        int start = _lengths[layer], t = k.Dim(2);
        if (start + t > Capacity)
        {
            throw new InvalidOperationException($"KvCache.cs: {start + t} positions exceed the cache capacity {Capacity}");
        }
        using (var kw = _keys[layer].Narrow(2, start, t))                 // (B, Hkv, T, Dh) window
        using (var vw = _values[layer].Narrow(2, start, t))               // (B, Hkv, T, Dh) window
        {
            kw.CopyFrom(k);
            vw.CopyFrom(v);
        }
        _lengths[layer] = start + t;
        return (_keys[layer].Narrow(2, 0, start + t), _values[layer].Narrow(2, 0, start + t)); // (B, Hkv, T', Dh)
    }

    /// <summary>Forgets every cached position (the buffers are reused).</summary>
    public void Reset() => Array.Clear(_lengths);

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
