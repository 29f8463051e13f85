using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Models.Weights;

/// <summary>Outcome of checking one tensor against the expected-key table.</summary>
public enum TensorStatus
{
    Ok,
    KnownUnused,
    ShapeMismatch,
    Unexpected,
    NotFloatingPoint,
}

/// <summary>One stored tensor and how it compares with what the configs predict.</summary>
public sealed record TensorCheck(string Key, StorageDType DType, int[] Shape, int[]? ExpectedShape,
    TensorStatus Status);

/// <summary>A tensor whose shape differs from the one computed from the configs.</summary>
public sealed record ShapeMismatch(string Key, int[] Expected, int[] Actual);

/// <summary>The check of one component's state dict against its expected keys.</summary>
public sealed class ComponentReport
{
    public required string Name { get; init; }
    public required string Source { get; init; }
    public required IReadOnlyList<string> Files { get; init; }
    public required WeightFormat Format { get; init; }

    /// <summary>Prefix removed from every key as found on disk (e.g. <c>vision_model.</c>), or empty.</summary>
    public required string KeyPrefix { get; init; }

    public required IReadOnlyList<TensorCheck> Tensors { get; init; }
    public required IReadOnlyList<ExpectedTensor> Missing { get; init; }
    public required IReadOnlyList<string> Unexpected { get; init; }
    public required IReadOnlyList<ShapeMismatch> ShapeMismatches { get; init; }

    /// <summary>Stored keys the network ignores by design (not errors).</summary>
    public required IReadOnlyList<string> KnownUnused { get; init; }

    public required IReadOnlyList<string> Problems { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    public long ParameterCount => Tensors.Sum(t => Numel(t.Shape));

    /// <summary>Parameters the network reads (known-unused tensors excluded).</summary>
    public long UsedParameterCount => Tensors.Where(t => t.Status != TensorStatus.KnownUnused).Sum(t => Numel(t.Shape));

    public long StoredBytes => Tensors.Sum(t => Numel(t.Shape) * t.DType.ElementSize());

    /// <summary>Parameter count per stored element type.</summary>
    public IReadOnlyDictionary<StorageDType, long> ParametersByDType =>
        Tensors.GroupBy(t => t.DType).ToDictionary(g => g.Key, g => g.Sum(t => Numel(t.Shape)));

    public bool IsValid => Problems.Count == 0;

    internal static long Numel(int[] shape) => shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>
    /// Compares <paramref name="weights"/> with <paramref name="expected"/>: missing used keys, keys nobody expects,
    /// shape mismatches and non-floating-point parameters are problems; known-unused keys are listed only.
    /// </summary>
    /// <param name="name">Component name for messages (e.g. "llm").</param>
    /// <param name="weights">The state dict (keys already without <paramref name="keyPrefix"/>).</param>
    /// <param name="expected">The table from <see cref="ExpectedKeys"/>.</param>
    /// <param name="format">Format of the files read.</param>
    /// <param name="keyPrefix">Prefix that was stripped from the keys on disk.</param>
    /// <param name="mayBeMissing">Used keys whose absence is acceptable (e.g. text_mlp when mimicking).</param>
    public static ComponentReport Check(string name, StateDict weights, IReadOnlyList<ExpectedTensor> expected,
        WeightFormat format, string keyPrefix = "", IReadOnlySet<string>? mayBeMissing = null)
    {
        var byKey = expected.ToDictionary(e => e.Key, StringComparer.Ordinal);
        var tensors = new List<TensorCheck>();
        var unexpected = new List<string>();
        var mismatches = new List<ShapeMismatch>();
        var unused = new List<string>();
        var problems = new List<string>();
        foreach (WeightTensor t in weights.Tensors)
        {
            int[] shape = t.GetShape();
            string shown = keyPrefix + t.Name;
            if (!byKey.TryGetValue(t.Name, out ExpectedTensor? e))
            {
                unexpected.Add(t.Name);
                tensors.Add(new TensorCheck(t.Name, t.DType, shape, null, TensorStatus.Unexpected));
                problems.Add($"{t.SourceFile}: unexpected tensor {InputText.Quote(shown)} {t.ShapeString} ({name} has no such key)");
                continue;
            }
            if (!shape.AsSpan().SequenceEqual(e.Shape))
            {
                mismatches.Add(new ShapeMismatch(t.Name, e.Shape, shape));
                tensors.Add(new TensorCheck(t.Name, t.DType, shape, e.Shape, TensorStatus.ShapeMismatch));
                problems.Add($"{t.SourceFile}: tensor {InputText.Quote(shown)} has shape {t.ShapeString}, the config expects " +
                             e.ShapeString);
                continue;
            }
            if (!t.DType.IsFloatingPoint())
            {
                tensors.Add(new TensorCheck(t.Name, t.DType, shape, e.Shape, TensorStatus.NotFloatingPoint));
                problems.Add($"{t.SourceFile}: tensor {InputText.Quote(shown)} is {t.DType}, expected a floating-point type");
                continue;
            }
            if (e.Role == TensorRole.KnownUnused)
            {
                unused.Add(t.Name);
            }
            tensors.Add(new TensorCheck(t.Name, t.DType, shape, e.Shape,
                e.Role == TensorRole.KnownUnused ? TensorStatus.KnownUnused : TensorStatus.Ok));
        }
        var missing = expected
            .Where(e => e.Role == TensorRole.Used && !weights.ContainsKey(e.Key) &&
                        !(mayBeMissing?.Contains(e.Key) ?? false))
            .ToList();
        foreach (ExpectedTensor m in missing)
        {
            problems.Add($"{weights.Source}: missing tensor {InputText.Quote(keyPrefix + m.Key)} {m.ShapeString}");
        }
        var notes = new List<string>();
        if (weights.Tensors.Select(t => t.DType).Where(d => d.IsFloatingPoint()).Distinct().Count() > 1)
        {
            notes.Add($"{name}: mixed floating-point dtypes " +
                      string.Join(", ", weights.Tensors.Select(t => t.DType.ShortName()).Distinct()));
        }
        return new ComponentReport
        {
            Name = name,
            Source = weights.Source,
            Files = weights.Files,
            Format = format,
            KeyPrefix = keyPrefix,
            Tensors = tensors,
            Missing = missing,
            Unexpected = unexpected,
            ShapeMismatches = mismatches,
            KnownUnused = unused,
            Problems = problems,
            Notes = notes,
        };
    }
}

/// <summary>The check of a whole checkpoint: every component plus cross-checks between configs.</summary>
public sealed class LoadReport
{
    public LoadReport(IReadOnlyList<ComponentReport> components, IReadOnlyList<string> configProblems,
        IReadOnlyList<string> notes)
    {
        Components = components;
        ConfigProblems = configProblems;
        Notes = notes.Concat(components.SelectMany(c => c.Notes)).ToList();
        Problems = configProblems.Concat(components.SelectMany(c => c.Problems)).ToList();
    }

    public IReadOnlyList<ComponentReport> Components { get; }

    /// <summary>Problems found in the configs and between them (unsupported settings, size disagreements).</summary>
    public IReadOnlyList<string> ConfigProblems { get; }

    /// <summary>Every problem, one line each, starting with the file concerned.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>Facts worth knowing that are not errors (mixed dtypes, replaced text_mlp, assumed BERT heads…).</summary>
    public IReadOnlyList<string> Notes { get; }

    public bool IsValid => Problems.Count == 0;

    public ComponentReport this[string component] =>
        Components.FirstOrDefault(c => c.Name == component)
        ?? throw new KeyNotFoundException($"no component '{component}' in the report");

    /// <summary>Throws <see cref="CheckpointMismatchException"/> with the first problem when there is any.</summary>
    public void ThrowIfInvalid(string root)
    {
        if (IsValid)
        {
            return;
        }
        string first = Problems[0];
        string more = Problems.Count > 1 ? $" (and {Problems.Count - 1} more problem(s))" : "";
        int colon = first.IndexOf(": ", StringComparison.Ordinal);
        string file = colon > 0 ? first[..colon] : root;
        string problem = colon > 0 ? first[(colon + 2)..] : first;
        throw new CheckpointMismatchException(file, problem + more, this);
    }
}
