using System.Text.Json;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>The on-disk format a state dict was read from.</summary>
public enum WeightFormat
{
    /// <summary><c>torch.save</c> zip + pickle (<c>pytorch_model.bin</c>).</summary>
    TorchZip,

    /// <summary><c>.safetensors</c>.</summary>
    Safetensors,

    /// <summary>Several <c>.safetensors</c> shards listed in <c>model.safetensors.index.json</c>.</summary>
    ShardedSafetensors,

    /// <summary>Several <c>.bin</c> shards listed in <c>pytorch_model.bin.index.json</c>.</summary>
    ShardedTorchZip,
}

/// <summary>Finds and reads the weights of one component folder in any of the supported formats.</summary>
public static class WeightFiles
{
    /// <summary>File names looked for in a component folder, in order of preference.</summary>
    public static readonly IReadOnlyList<string> SearchOrder =
    [
        "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin",
    ];

    /// <summary>Largest shard index read (the real ones are a few tens of kilobytes).</summary>
    public const long MaxIndexBytes = 64L << 20;

    /// <summary>
    /// A shard name of an index: a non-empty name of a file in the index's own folder, without separators, control
    /// characters (NUL included) or the names "." and "..".
    /// </summary>
    private static bool IsPlainFileName(string file) =>
        file.Length is > 0 and <= 255 && file is not ("." or "..") && !file.Any(char.IsControl)
        && file.IndexOfAny(['/', '\\']) < 0 && file == Path.GetFileName(file);

    /// <summary>The first weight file of <paramref name="directory"/> in <see cref="SearchOrder"/>, or null.</summary>
    public static string? Find(string directory) =>
        SearchOrder.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists);

    /// <summary>Reads one weight file or shard index, choosing the reader from the file name.</summary>
    public static StateDict Read(string path, out WeightFormat format)
    {
        path = Path.GetFullPath(path);
        string name = Path.GetFileName(path);
        if (name.EndsWith(".index.json", StringComparison.Ordinal))
        {
            bool safetensors = name.Contains(".safetensors", StringComparison.Ordinal);
            format = safetensors ? WeightFormat.ShardedSafetensors : WeightFormat.ShardedTorchZip;
            return ReadSharded(path);
        }
        if (name.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            format = WeightFormat.Safetensors;
            return SafetensorsReader.Read(path);
        }
        format = WeightFormat.TorchZip;
        return TorchCheckpointReader.Read(path);
    }

    /// <summary>Reads one weight file or shard index, choosing the reader from the file name.</summary>
    public static StateDict Read(string path) => Read(path, out _);

    private static StateDict ReadSharded(string indexPath)
    {
        if (!File.Exists(indexPath))
        {
            throw new CheckpointFormatException(indexPath, "file not found");
        }
        string dir = Path.GetDirectoryName(indexPath)!;
        var map = new List<(string Key, string File)>();
        byte[] bytes = FileBytes.Read(indexPath, MaxIndexBytes, "a shard index",
            problem => new CheckpointFormatException(indexPath, problem));
        using JsonDocument doc = JsonText.Parse(bytes, default,
            problem => new CheckpointFormatException(indexPath, "shard index: " + problem));
        if (doc.RootElement.ValueKind != JsonValueKind.Object ||
            !doc.RootElement.TryGetProperty("weight_map", out JsonElement wm) ||
            wm.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException(indexPath, "shard index has no 'weight_map' object");
        }
        foreach (JsonProperty p in wm.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw new CheckpointFormatException(indexPath,
                    $"weight_map entry {InputText.Quote(p.Name)} is not a file name (found {InputText.Json(p.Value)})");
            }
            string file = p.Value.GetString()!;
            if (!IsPlainFileName(file))
            {
                throw new CheckpointFormatException(indexPath,
                    $"weight_map entry {InputText.Quote(p.Name)} names {InputText.Quote(file)}, which is not a plain " +
                    "file name in this folder");
            }
            map.Add((p.Name, file));
        }
        var tensors = new List<WeightTensor>();
        var files = new List<string>();
        var byFile = new Dictionary<string, StateDict>(StringComparer.Ordinal);
        foreach (string file in map.Select(m => m.File).Distinct())
        {
            string shard = Path.Combine(dir, file);
            // The shard's own extension decides its reader; the index name only sets the reported format.
            StateDict part = file.EndsWith(".safetensors", StringComparison.Ordinal)
                ? SafetensorsReader.Read(shard)
                : TorchCheckpointReader.Read(shard);
            byFile[file] = part;
            files.Add(part.Source);
            tensors.AddRange(part.Tensors);
        }
        foreach ((string key, string file) in map)
        {
            if (!byFile[file].ContainsKey(key))
            {
                throw new CheckpointFormatException(indexPath,
                    $"weight_map puts {InputText.Quote(key)} in {InputText.Quote(file)}, but that shard has no such tensor");
            }
        }
        return new StateDict(tensors, indexPath, files);
    }
}
