using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Med2E3.Native.Formats.Files;
using Microsoft.Win32.SafeHandles;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// Reads <c>.safetensors</c> files: an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}}</c> and the raw data. Only the header is read at open; each tensor's
/// bytes are read from its offset on demand. Offsets are checked to lie in the data section, not to overlap, and
/// to span exactly numel × element size.
/// </summary>
public static class SafetensorsReader
{
    /// <summary>Largest header accepted (the format's own limit).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    /// <summary>Reads the tensors of one file.</summary>
    /// <exception cref="CheckpointFormatException">The file is malformed or truncated.</exception>
    public static StateDict Read(string path)
    {
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new CheckpointFormatException(path, "file not found");
        }
        long fileLength;
        byte[] header;
        using (SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            fileLength = RandomAccess.GetLength(h);
            if (fileLength < 8)
            {
                throw new CheckpointFormatException(path,
                    $"file has {fileLength} bytes, too short for a safetensors header length");
            }
            Span<byte> lengthBytes = stackalloc byte[8];
            StorageViewSource.ReadExactly(h, 0, lengthBytes);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (n > (ulong)MaxHeaderBytes)
            {
                throw new CheckpointFormatException(path,
                    $"safetensors header length {n} exceeds the {MaxHeaderBytes}-byte limit (not a safetensors file?)");
            }
            if ((long)n > fileLength - 8)
            {
                throw new CheckpointFormatException(path,
                    $"safetensors header length {n} runs past the end of the file ({fileLength} bytes; truncated?)");
            }
            header = new byte[n];
            StorageViewSource.ReadExactly(h, 8, header);
        }
        long dataStart = 8 + header.Length;
        long dataLength = fileLength - dataStart;
        return ParseHeader(path, header, dataStart, dataLength);
    }

    private static StateDict ParseHeader(string path, byte[] header, long dataStart, long dataLength)
    {
        JsonDocument doc = JsonText.Parse(header, new JsonDocumentOptions { MaxDepth = 16 },
            problem => new CheckpointFormatException(path, "safetensors header: " + problem));
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException(path, "safetensors header is not a JSON object");
            }
            var metadata = new Dictionary<string, string>();
            var tensors = new List<WeightTensor>();
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new CheckpointFormatException(path, "__metadata__ is not an object");
                    }
                    foreach (JsonProperty m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                        {
                            throw new CheckpointFormatException(path,
                                $"__metadata__ value {InputText.Quote(m.Name)} is not a string");
                        }
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseEntry(path, p, dataStart, dataLength, ranges));
            }
            ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            for (int i = 1; i < ranges.Count; i++)
            {
                if (ranges[i].Begin < ranges[i - 1].End)
                {
                    throw new CheckpointFormatException(path,
                        $"tensors {InputText.Quote(ranges[i - 1].Name)} and {InputText.Quote(ranges[i].Name)} overlap in the data section");
                }
            }
            // The format orders tensors by offset; keep header order, which is what writers emit.
            return new StateDict(tensors, path, null, metadata);
        }
    }

    private static WeightTensor ParseEntry(string path, JsonProperty p, long dataStart, long dataLength,
        List<(long, long, string)> ranges)
    {
        string name = p.Name;
        string shown = InputText.Quote(name);
        JsonElement e = p.Value;
        if (e.ValueKind != JsonValueKind.Object ||
            !e.TryGetProperty("dtype", out JsonElement dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String ||
            !e.TryGetProperty("shape", out JsonElement shapeEl) || shapeEl.ValueKind != JsonValueKind.Array ||
            !e.TryGetProperty("data_offsets", out JsonElement offEl) || offEl.ValueKind != JsonValueKind.Array ||
            offEl.GetArrayLength() != 2)
        {
            throw new CheckpointFormatException(path,
                $"tensor {shown}: header entry needs dtype (string), shape (array) and data_offsets ([begin,end])");
        }
        string dtypeName = dtypeEl.GetString()!;
        if (!StorageDTypes.TryParseSafetensors(dtypeName, out StorageDType dtype))
        {
            throw new CheckpointFormatException(path, $"tensor {shown}: unsupported dtype {InputText.Quote(dtypeName)}");
        }
        if (shapeEl.GetArrayLength() > 32)
        {
            throw new CheckpointFormatException(path, $"tensor {shown}: too many dimensions");
        }
        var shape = new int[shapeEl.GetArrayLength()];
        long numel = 1;
        int i = 0;
        foreach (JsonElement d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0 || v > int.MaxValue)
            {
                throw new CheckpointFormatException(path,
                    $"tensor {shown}: invalid dimension {InputText.Json(d)} in shape {InputText.Json(shapeEl)}");
            }
            shape[i++] = (int)v;
            try
            {
                numel = checked(numel * v);
            }
            catch (OverflowException)
            {
                throw new CheckpointFormatException(path, $"tensor {shown}: shape {InputText.Json(shapeEl)} overflows");
            }
        }
        long[] offsets = new long[2];
        i = 0;
        foreach (JsonElement o in offEl.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offsets[i]) || offsets[i] < 0)
            {
                throw new CheckpointFormatException(path,
                    $"tensor {shown}: invalid data_offsets {InputText.Json(offEl)}");
            }
            i++;
        }
        (long begin, long end) = (offsets[0], offsets[1]);
        if (begin > end || end > dataLength)
        {
            throw new CheckpointFormatException(path,
                $"tensor {shown}: data_offsets [{begin},{end}] lie outside the data section of {dataLength} " +
                "bytes (truncated?)");
        }
        long need;
        try
        {
            need = checked(numel * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path, $"tensor {shown}: shape {InputText.Json(shapeEl)} overflows");
        }
        if (end - begin != need)
        {
            throw new CheckpointFormatException(path,
                $"tensor {shown}: data_offsets span {end - begin} bytes, shape {InputText.Json(shapeEl)} of " +
                $"{dtypeName} needs {need}");
        }
        ranges.Add((begin, end, name));
        long[] longShape = shape.Select(x => (long)x).ToArray();
        return new WeightTensor(name, dtype, shape,
            StorageViewSource.Contiguous(path, dataStart + begin, need, dtype.ElementSize(), longShape));
    }
}

/// <summary>
/// Writes <c>.safetensors</c> files (e.g. fine-tuned weights). Tensors are written in the order given, each
/// streamed from its source; the header is padded with spaces to a multiple of 8 bytes as the format recommends.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> (replacing it).</summary>
    public static void Write(string path, IEnumerable<WeightTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        List<WeightTensor> list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach ((string k, string v) in metadata)
                {
                    json.WriteString(k, v);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (WeightTensor t in list)
            {
                if (t.Name == "__metadata__" || !seen.Add(t.Name))
                {
                    throw new ArgumentException($"tensor name '{t.Name}' is reserved or repeated", nameof(tensors));
                }
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (int d in t.Shape)
                {
                    json.WriteNumberValue(d);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.ByteLength;
            }
            json.WriteEndObject();
        }
        int pad = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < pad; i++)
        {
            buffer.WriteByte((byte)' ');
        }
        AtomicFile.Write(path, file =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)buffer.Length);
            file.Write(len);
            buffer.Position = 0;
            buffer.CopyTo(file);
            foreach (WeightTensor t in list)
            {
                if (t.IsLoaded)
                {
                    file.Write(t.Data.Span);
                }
                else
                {
                    var bytes = new byte[t.ByteLength];
                    t.CopyTo(bytes);
                    file.Write(bytes);
                }
            }
        });
    }
}
