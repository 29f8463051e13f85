using Microsoft.Win32.SafeHandles;
using static Med2E3.Native.Formats.Checkpoints.RestrictedUnpickler;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// Reads a PyTorch <c>torch.save</c> zip checkpoint (<c>pytorch_model.bin</c>) holding a state dict, with a
/// restricted unpickler (only the globals a state dict needs) and bounds checks on every storage and view.
/// Only the pickle is read at open; tensor bytes are read in place from the stored zip entries on demand.
/// </summary>
public static class TorchCheckpointReader
{
    /// <summary>Largest <c>data.pkl</c> accepted (the real LLM's is a few tens of kilobytes).</summary>
    public const long MaxPickleBytes = 256L << 20;

    /// <summary>Reads the state dict of <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointFormatException">The file is malformed, truncated, unsafe or inconsistent.</exception>
    public static StateDict Read(string path)
    {
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new CheckpointFormatException(path, "file not found");
        }
        CheckMagic(path);
        ZipDirectory zip = ZipDirectory.Read(path);
        List<ZipEntryInfo> pickles = zip.Entries
            .Where(e => e.Name == "data.pkl" || e.Name.EndsWith("/data.pkl", StringComparison.Ordinal)).ToList();
        if (pickles.Count != 1)
        {
            throw new CheckpointFormatException(path,
                pickles.Count == 0
                    ? "no '<archive>/data.pkl' entry: not a PyTorch checkpoint"
                    : $"{pickles.Count} 'data.pkl' entries; expected one");
        }
        ZipEntryInfo pkl = pickles[0];
        string prefix = pkl.Name[..^"data.pkl".Length];
        ZipEntryInfo? byteorder = zip.Find(prefix + "byteorder");
        if (byteorder is not null)
        {
            string order = System.Text.Encoding.ASCII.GetString(zip.ReadAll(byteorder, 64)).Trim();
            if (order != "little")
            {
                throw new CheckpointFormatException(path, $"storages are {InputText.Quote(order)}-endian; only little is read");
            }
        }
        byte[] pickle = zip.ReadAll(pkl, MaxPickleBytes);
        object root = RestrictedUnpickler.Load(path, pickle);
        Dict dict = FindStateDict(path, root);

        var tensors = new List<WeightTensor>(dict.Items.Count);
        var checks = new Dictionary<string, ZipEntryCheck>(StringComparer.Ordinal);
        foreach ((object key, object value) in dict.Items)
        {
            if (key is not string name)
            {
                throw new CheckpointFormatException(path, $"state dict key {key} is not a string");
            }
            if (value is not TensorRef t)
            {
                throw new CheckpointFormatException(path, $"state dict entry {InputText.Quote(name)} is not a tensor");
            }
            tensors.Add(MakeTensor(path, zip, prefix, name, t, checks));
        }
        return new StateDict(tensors, path);
    }

    private static void CheckMagic(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        int n = RandomAccess.Read(h, head, 0);
        if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
        {
            throw new CheckpointFormatException(path,
                "legacy (pre-zip) torch.save format; re-save it with a current PyTorch or convert to safetensors");
        }
        if (n < 4 || head[0] != (byte)'P' || head[1] != (byte)'K')
        {
            throw new CheckpointFormatException(path, "not a zip file, so not a PyTorch checkpoint");
        }
    }

    private static Dict FindStateDict(string path, object root)
    {
        if (root is not Dict dict)
        {
            throw new CheckpointFormatException(path, "the pickle does not hold a dict, so it is not a state dict");
        }
        if (dict.Items.Count > 0 && dict.Items.All(kv => kv.Value is TensorRef))
        {
            return dict;
        }
        // Training frameworks sometimes wrap the weights: {"state_dict": {...}} or {"module": {...}}.
        foreach (string wrapper in new[] { "state_dict", "module", "model" })
        {
            if (dict.Items.FirstOrDefault(kv => Equals(kv.Key, wrapper)).Value is Dict inner &&
                inner.Items.All(kv => kv.Value is TensorRef))
            {
                return inner;
            }
        }
        if (dict.Items.Count == 0)
        {
            return dict;
        }
        object bad = dict.Items.First(kv => kv.Value is not TensorRef).Key;
        throw new CheckpointFormatException(path, $"state dict entry {InputText.Quote(bad.ToString())} is not a tensor");
    }

    private static WeightTensor MakeTensor(string path, ZipDirectory zip, string prefix, string name, TensorRef t,
        Dictionary<string, ZipEntryCheck> checks)
    {
        StorageRef s = t.Storage;
        int es = s.DType.ElementSize();
        ZipEntryInfo entry = zip.Find(prefix + "data/" + s.Key)
            ?? throw new CheckpointFormatException(path,
                $"tensor {InputText.Quote(name)}: storage {InputText.Quote(prefix + "data/" + s.Key)} is missing from the archive");
        long storageBytes;
        try
        {
            storageBytes = checked(s.Numel * es);
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path, $"tensor {InputText.Quote(name)}: storage size overflows");
        }
        if (entry.Size != storageBytes)
        {
            throw new CheckpointFormatException(path,
                $"tensor {InputText.Quote(name)}: storage {InputText.Quote(s.Key)} holds {entry.Size} bytes, but {s.Numel} {s.DType} elements " +
                $"need {storageBytes}");
        }
        var shape = new int[t.Size.Length];
        long numel = 1;
        long last = t.Offset;
        try
        {
            for (int i = 0; i < shape.Length; i++)
            {
                if (t.Size[i] < 0 || t.Size[i] > int.MaxValue)
                {
                    throw new CheckpointFormatException(path,
                        $"tensor {InputText.Quote(name)} has an invalid dimension {t.Size[i]} in shape " +
                        $"[{string.Join(",", t.Size)}]");
                }
                if (t.Stride[i] < 0)
                {
                    throw new CheckpointFormatException(path, $"tensor {InputText.Quote(name)} has a negative stride");
                }
                shape[i] = (int)t.Size[i];
                numel = checked(numel * t.Size[i]);
                if (t.Size[i] > 0)
                {
                    last = checked(last + (t.Size[i] - 1) * t.Stride[i]);
                }
            }
            _ = checked(numel * es);
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path,
                $"tensor {InputText.Quote(name)} shape [{string.Join(",", t.Size)}] overflows");
        }
        if (t.Offset < 0)
        {
            throw new CheckpointFormatException(path, $"tensor {InputText.Quote(name)} has a negative storage offset");
        }
        if (numel > 0 && last >= s.Numel)
        {
            throw new CheckpointFormatException(path,
                $"tensor {InputText.Quote(name)} (shape [{string.Join(",", t.Size)}], stride [{string.Join(",", t.Stride)}], " +
                $"offset {t.Offset}) reaches element {last}, but its storage has only {s.Numel}");
        }
        // One check per storage entry, shared by every tensor viewing it.
        ZipEntryCheck check = checks.TryGetValue(entry.Name, out var c) ? c : checks[entry.Name] = new ZipEntryCheck(path, entry);
        StorageViewSource source = entry.Method == 0
            ? StorageViewSource.Strided(path, entry.DataOffset, storageBytes, es, t.Offset, t.Size, t.Stride, check)
            : StorageViewSource.Deflated(path, entry.DataOffset, entry.CompressedSize, storageBytes, es, t.Offset,
                t.Size, t.Stride, check);
        return new WeightTensor(name, s.DType, shape, source);
    }
}
