using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Decoder;

/// <summary>
/// Keys (after RoPE) and values of every decoder layer for the positions seen so far (spec §6.4): per layer two
/// (B, Hkv, allocated, Dh) buffers; <see cref="Append"/> writes new positions in place (not recorded by autograd) and
/// returns views over everything cached. The buffers start small and double as positions arrive, up to
/// <see cref="Capacity"/>, so memory follows the positions actually cached, not the most that could be asked for.
/// Dispose it after generation.
/// </summary>
public sealed class KvCache : IDisposable
{
    /// <summary>Positions the buffers hold before they first grow.</summary>
    public const int InitialPositions = 256;

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
        int allocated = Math.Min(capacity, InitialPositions);
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = TensorScope.Detach(Tensor.Zeros([batch, kvHeads, allocated, headDim], dtype, device));   // (B, Hkv, Ta, Dh)
            _values[i] = TensorScope.Detach(Tensor.Zeros([batch, kvHeads, allocated, headDim], dtype, device)); // (B, Hkv, Ta, Dh)
        }
    }

    /// <summary>Positions the buffers of <paramref name="layer"/> hold now (≤ <see cref="Capacity"/>).</summary>
    public int Allocated(int layer) => _keys[layer].Dim(2);

    /// <summary>Grows a buffer (B, Hkv, Ta, Dh) to hold <paramref name="positions"/>, keeping its first <paramref name="used"/>.</summary>
    private static Tensor Grown(Tensor buffer, int used, int positions)
    {
        var grown = TensorScope.Detach(Tensor.Zeros(
            [buffer.Dim(0), buffer.Dim(1), positions, buffer.Dim(3)], buffer.DType, buffer.Device));          // (B, Hkv, Ta', Dh)
        if (used > 0)
        {
            using var to = grown.Narrow(2, 0, used);                                                           // (B, Hkv, T, Dh)
            using var from = buffer.Narrow(2, 0, used);                                                        // (B, Hkv, T, Dh)
            to.CopyFrom(from);
        }
        buffer.Dispose();
        return grown;
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
        if (start + t > Allocated(layer))
        {
            int positions = (int)Math.Min(Capacity, Math.Max(start + t, 2L * Allocated(layer)));
            _keys[layer] = Grown(_keys[layer], start, positions);
            _values[layer] = Grown(_values[layer], start, positions);
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
