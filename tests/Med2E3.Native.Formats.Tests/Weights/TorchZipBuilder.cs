using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// Writes PyTorch-style zip checkpoints for tests, emitting the same opcode stream as <c>torch.save</c> of a state
/// dict (protocol 2), with full control over sizes, strides, offsets and storage bytes so hostile files can be made.
/// </summary>
internal sealed class TorchZipBuilder
{
    internal sealed record Entry(string Name, string StorageClass, string Key, long StorageNumel, long Offset,
        long[] Size, long[] Stride);

    private readonly List<Entry> _entries = [];
    private readonly Dictionary<string, byte[]> _storages = [];

    public string Archive { get; init; } = "archive";

    /// <summary>Adds a contiguous f32 tensor with its own storage.</summary>
    public TorchZipBuilder AddF32(string name, long[] shape, float[] values)
    {
        string key = _storages.Count.ToString();
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }
        _storages[key] = bytes;
        _entries.Add(new Entry(name, "FloatStorage", key, values.Length, 0, shape, Contiguous(shape)));
        return this;
    }

    /// <summary>Adds a storage with raw bytes.</summary>
    public TorchZipBuilder Storage(string key, byte[] bytes)
    {
        _storages[key] = bytes;
        return this;
    }

    /// <summary>Adds a tensor entry pointing at any storage with any view.</summary>
    public TorchZipBuilder View(string name, string storageClass, string key, long storageNumel, long offset,
        long[] size, long[] stride)
    {
        _entries.Add(new Entry(name, storageClass, key, storageNumel, offset, size, stride));
        return this;
    }

    public static long[] Contiguous(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    public byte[] Pickle()
    {
        var p = new PickleWriter();
        p.Op(0x80).Byte(2).Op((byte)'}').Op((byte)'(');
        foreach (Entry e in _entries)
        {
            p.Unicode(e.Name);
            p.Global("torch._utils", "_rebuild_tensor_v2");
            p.Op((byte)'(');
            p.Op((byte)'(').Unicode("storage").Global("torch", e.StorageClass).Unicode(e.Key).Unicode("cpu")
                .Int(e.StorageNumel).Op((byte)'t');
            p.Op((byte)'Q');
            p.Int(e.Offset);
            p.IntTuple(e.Size);
            p.IntTuple(e.Stride);
            p.Op(0x89);
            p.Global("collections", "OrderedDict").Op((byte)')').Op((byte)'R');
            p.Op((byte)'t').Op((byte)'R');
        }
        p.Op((byte)'u').Op((byte)'.');
        return p.ToArray();
    }

    /// <summary>Writes the zip; <paramref name="pickle"/> replaces the generated data.pkl when given.</summary>
    public void Write(string path, byte[]? pickle = null, CompressionLevel level = CompressionLevel.NoCompression)
    {
        using var file = new FileStream(path, FileMode.Create);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            ZipArchiveEntry entry = zip.CreateEntry(Archive + "/" + name, level);
            using Stream s = entry.Open();
            s.Write(data);
        }
        Add("data.pkl", pickle ?? Pickle());
        Add("byteorder", "little"u8.ToArray());
        foreach ((string key, byte[] bytes) in _storages)
        {
            Add("data/" + key, bytes);
        }
        Add("version", "3\n"u8.ToArray());
    }
}

/// <summary>Emits pickle opcodes.</summary>
internal sealed class PickleWriter
{
    private readonly MemoryStream _s = new();

    public PickleWriter Op(byte op)
    {
        _s.WriteByte(op);
        return this;
    }

    public PickleWriter Byte(byte b) => Op(b);

    public PickleWriter Raw(byte[] bytes)
    {
        _s.Write(bytes);
        return this;
    }

    public PickleWriter Unicode(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
        _s.Write(n);
        _s.Write(b);
        return this;
    }

    public PickleWriter ShortUnicode(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        Op(0x8c).Byte((byte)b.Length);
        _s.Write(b);
        return this;
    }

    public PickleWriter Global(string module, string name) =>
        Op((byte)'c').Raw(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));

    public PickleWriter Int(long v)
    {
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            Op((byte)'J');
            _s.Write(b);
        }
        else
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            Op(0x8a).Byte(8);
            _s.Write(b);
        }
        return this;
    }

    public PickleWriter IntTuple(long[] values)
    {
        Op((byte)'(');
        foreach (long v in values)
        {
            Int(v);
        }
        return Op((byte)'t');
    }

    public byte[] ToArray() => _s.ToArray();
}
