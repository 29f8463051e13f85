using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// An ordered map from checkpoint key to <see cref="WeightTensor"/>, in file order. Tensor bytes are read lazily.
/// </summary>
public sealed class StateDict : IReadOnlyDictionary<string, WeightTensor>
{
    private readonly List<WeightTensor> _ordered;
    private readonly Dictionary<string, WeightTensor> _byName;

    /// <summary>Builds a state dict; duplicate names are an error.</summary>
    public StateDict(IEnumerable<WeightTensor> tensors, string source = "<memory>",
        IReadOnlyList<string>? files = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        _ordered = [];
        _byName = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (WeightTensor t in tensors)
        {
            if (!_byName.TryAdd(t.Name, t))
            {
                throw new CheckpointFormatException(t.SourceFile, $"tensor {InputText.Quote(t.Name)} appears twice");
            }
            _ordered.Add(t);
        }
        Source = source;
        Files = files ?? [source];
        Metadata = metadata ?? new Dictionary<string, string>();
    }

    /// <summary>The file or directory this was read from.</summary>
    public string Source { get; }

    /// <summary>Every file that contributed tensors (more than one for sharded checkpoints).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>String metadata (safetensors <c>__metadata__</c>); empty for PyTorch files.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in file order.</summary>
    public IReadOnlyList<WeightTensor> Tensors => _ordered;

    public int Count => _ordered.Count;

    public IEnumerable<string> Keys => _ordered.Select(t => t.Name);

    public IEnumerable<WeightTensor> Values => _ordered;

    /// <summary>Sum of the element counts of every tensor.</summary>
    public long ParameterCount => _ordered.Sum(t => t.ElementCount);

    /// <summary>Sum of the stored byte sizes of every tensor.</summary>
    public long ByteCount => _ordered.Sum(t => t.ByteLength);

    /// <summary>The tensor for <paramref name="key"/>; a missing key throws <see cref="CheckpointFormatException"/>.</summary>
    public WeightTensor this[string key] =>
        _byName.TryGetValue(key, out WeightTensor? t)
            ? t
            : throw new CheckpointFormatException(Source, $"no tensor named {InputText.Quote(key)}");

    public bool ContainsKey(string key) => _byName.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out WeightTensor value) =>
        _byName.TryGetValue(key, out value);

    /// <summary>The tensor for <paramref name="key"/>, checked against an expected shape.</summary>
    public WeightTensor Get(string key, params int[] expectedShape)
    {
        WeightTensor t = this[key];
        if (!t.Shape.SequenceEqual(expectedShape))
        {
            throw new CheckpointFormatException(Source,
                $"tensor {InputText.Quote(key)} has shape {t.ShapeString}, expected {WeightTensor.FormatShape(expectedShape)}");
        }
        return t;
    }

    /// <summary>The tensors whose key starts with <paramref name="prefix"/>, with the prefix removed.</summary>
    public StateDict WithPrefixRemoved(string prefix) =>
        new(_ordered.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(t => t.WithName(t.Name[prefix.Length..])),
            Source, Files, Metadata);

    /// <summary>A copy with some tensors replaced or added (matched by name, order kept, new ones appended).</summary>
    public StateDict With(IEnumerable<WeightTensor> replacements)
    {
        List<WeightTensor> given = replacements.ToList();
        var map = given.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var result = _ordered.Select(t => map.GetValueOrDefault(t.Name, t)).ToList();
        result.AddRange(given.Where(t => !_byName.ContainsKey(t.Name)));
        return new StateDict(result, Source, Files, Metadata);
    }

    public IEnumerator<KeyValuePair<string, WeightTensor>> GetEnumerator() =>
        _ordered.Select(t => new KeyValuePair<string, WeightTensor>(t.Name, t)).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
