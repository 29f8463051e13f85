using System.Buffers.Binary;
using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// Writes a state dict as PyTorch's zip checkpoint (<c>pytorch_model.bin</c>), the way <c>torch.save</c> of a plain
/// dict {name: tensor} does: a stored (uncompressed) zip whose entries sit under one archive folder —
/// <c>data.pkl</c> (pickle protocol 2: a dict of <c>torch._utils._rebuild_tensor_v2</c> REDUCE calls whose storages
/// are persistent ids <c>('storage', torch.&lt;T&gt;Storage, key, 'cpu', numel)</c>), <c>.format_version</c>,
/// <c>.storage_alignment</c>, <c>byteorder</c>, <c>data/&lt;key&gt;</c> (one contiguous little-endian storage per tensor,
/// its data 64-byte aligned in the file) and <c>version</c>. The pickle opcode stream, memo included, is the one
/// Python's pickler emits for such a dict. Zip64 records are written when offsets pass 4 GiB.
/// The file is written beside the target and moved into place when complete.
/// </summary>
public static class TorchCheckpointWriter
{
    /// <summary>Alignment of every entry's data in the file (PyTorch's <c>.storage_alignment</c>).</summary>
    public const int DataAlignment = 64;

    /// <summary>Writes <paramref name="tensors"/> (in order) to <paramref name="path"/>.</summary>
    /// <param name="path">The checkpoint file to create or replace.</param>
    /// <param name="tensors">Named tensors; names must be unique.</param>
    /// <param name="archiveName">The folder inside the zip; default: the file name without extension, as PyTorch.</param>
    public static void Write(string path, IEnumerable<WeightTensor> tensors, string? archiveName = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        path = Path.GetFullPath(path);
        List<WeightTensor> list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (WeightTensor t in list)
        {
            if (!names.Add(t.Name))
            {
                throw new ArgumentException($"tensor '{t.Name}' appears twice", nameof(tensors));
            }
            _ = StorageClass(t.DType);
        }
        string archive = archiveName ?? Path.GetFileNameWithoutExtension(path);
        if (archive.Length == 0)
        {
            archive = "archive";
        }
        byte[] pickle = Pickle(list);
        // Written through a temporary sibling and renamed, so the file is the old one or the complete new one.
        AtomicFile.Write(path, file =>
        {
            var zip = new StoredZipWriter(file);
            zip.Add(archive + "/data.pkl", pickle);
            zip.Add(archive + "/.format_version", "1"u8);
            zip.Add(archive + "/.storage_alignment", Encoding.ASCII.GetBytes(DataAlignment.ToString()));
            zip.Add(archive + "/byteorder", "little"u8);
            for (int i = 0; i < list.Count; i++)
            {
                zip.Add(archive + "/data/" + i, list[i].Data.Span);
            }
            zip.Add(archive + "/version", "3\n"u8);
            zip.Finish();
        });
    }

    /// <summary>Writes every tensor of <paramref name="stateDict"/> (in its order) to <paramref name="path"/>.</summary>
    public static void Write(string path, StateDict stateDict, string? archiveName = null) =>
        Write(path, stateDict.Tensors, archiveName);

    /// <summary>The PyTorch typed-storage class that holds <paramref name="dtype"/>.</summary>
    public static string StorageClass(StorageDType dtype) => dtype switch
    {
        StorageDType.F32 => "FloatStorage",
        StorageDType.F16 => "HalfStorage",
        StorageDType.BF16 => "BFloat16Storage",
        StorageDType.F64 => "DoubleStorage",
        StorageDType.I64 => "LongStorage",
        StorageDType.I32 => "IntStorage",
        StorageDType.I16 => "ShortStorage",
        StorageDType.I8 => "CharStorage",
        StorageDType.U8 => "ByteStorage",
        StorageDType.Bool => "BoolStorage",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The <c>data.pkl</c> bytes for <paramref name="tensors"/>, storage keys "0", "1", … in order.</summary>
    public static byte[] Pickle(IReadOnlyList<WeightTensor> tensors)
    {
        var p = new Pickler();
        p.Op(0x80).Op(2);                               // PROTO 2
        p.Op((byte)'}').Put();                          // EMPTY_DICT, memoised
        const int batch = 1000;                         // pickle's _batch_setitems
        for (int start = 0; start < tensors.Count || start == 0; start += batch)
        {
            int n = Math.Min(batch, tensors.Count - start);
            if (n > 1)
            {
                p.Op((byte)'(');
            }
            for (int i = start; i < start + n; i++)
            {
                WeightTensor t = tensors[i];
                p.Str(t.Name).Put();
                p.Global("torch._utils", "_rebuild_tensor_v2");
                p.Op((byte)'(');                        // the 6 arguments
                p.Op((byte)'(');                        // persistent id
                p.ConstStr("storage");
                p.Global("torch", StorageClass(t.DType));
                p.Str(i.ToString()).Put();
                p.ConstStr("cpu");
                p.Int(t.ElementCount);
                p.Op((byte)'t').Put();
                p.Op((byte)'Q');                        // BINPERSID
                p.Int(0);                               // storage offset
                long[] size = t.Shape.Select(d => (long)d).ToArray();
                p.Tuple(size);
                p.Tuple(TensorSourceStrides(size));
                p.Op(0x89);                             // requires_grad = False
                p.Global("collections", "OrderedDict");
                p.Op((byte)')').Op((byte)'R').Put();    // OrderedDict()
                p.Op((byte)'t').Put();
                p.Op((byte)'R').Put();
            }
            if (n > 1)
            {
                p.Op((byte)'u');
            }
            else if (n == 1)
            {
                p.Op((byte)'s');
            }
            if (n < batch)
            {
                break;
            }
        }
        p.Op((byte)'.');
        return p.ToArray();
    }

    private static long[] TensorSourceStrides(long[] shape)
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

    /// <summary>Pickle protocol 2 opcodes with Python's memo (BINPUT after each memoisable, BINGET on repeats).</summary>
    private sealed class Pickler
    {
        private readonly MemoryStream _s = new();
        private readonly Dictionary<string, int> _shared = new(StringComparer.Ordinal);
        private int _memo;

        public Pickler Op(byte op)
        {
            _s.WriteByte(op);
            return this;
        }

        /// <summary>BINPUT / LONG_BINPUT of the next memo slot.</summary>
        public Pickler Put() => Memo((byte)'q', (byte)'r', _memo++);

        private Pickler Memo(byte shortOp, byte longOp, int index)
        {
            if (index < 256)
            {
                Op(shortOp).Op((byte)index);
            }
            else
            {
                Span<byte> b = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(b, index);
                Op(longOp);
                _s.Write(b);
            }
            return this;
        }

        /// <summary>An object pickled once and fetched from the memo afterwards (globals, interned strings).</summary>
        private void Shared(string id, Action first)
        {
            if (_shared.TryGetValue(id, out int index))
            {
                Memo((byte)'h', (byte)'j', index);
                return;
            }
            first();
            _shared[id] = _memo;
            Put();
        }

        public void Global(string module, string name) =>
            Shared("g:" + module + "." + name,
                () => { Op((byte)'c'); _s.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); });

        public void ConstStr(string s) => Shared("s:" + s, () => Str(s));

        /// <summary>BINUNICODE (protocol 2 has no SHORT_BINUNICODE); the caller memoises.</summary>
        public Pickler Str(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
            Op((byte)'X');
            _s.Write(n);
            _s.Write(b);
            return this;
        }

        public void Int(long v)
        {
            Span<byte> b = stackalloc byte[9];
            if (v is >= 0 and <= 0xFF)
            {
                Op((byte)'K').Op((byte)v);
            }
            else if (v is >= 0 and <= 0xFFFF)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v);
                Op((byte)'M');
                _s.Write(b[..2]);
            }
            else if (v is >= int.MinValue and <= int.MaxValue)
            {
                BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
                Op((byte)'J');
                _s.Write(b[..4]);
            }
            else
            {
                // LONG1: minimal two's complement, as pickle.encode_long.
                BinaryPrimitives.WriteInt64LittleEndian(b, v);
                int bits = v >= 0 ? 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)v) : 64;
                int n = Math.Min(8, (bits >> 3) + 1);
                Op(0x8a).Op((byte)n);
                _s.Write(b[..n]);
            }
        }

        public void Tuple(long[] values)
        {
            if (values.Length == 0)
            {
                Op((byte)')');                          // EMPTY_TUPLE is not memoised
                return;
            }
            if (values.Length > 3)
            {
                Op((byte)'(');
            }
            foreach (long v in values)
            {
                Int(v);
            }
            Op(values.Length switch { 1 => 0x85, 2 => 0x86, 3 => 0x87, _ => (byte)'t' }).Put();
        }

        public byte[] ToArray() => _s.ToArray();
    }

    /// <summary>A stored zip written front to back, each entry's data aligned like PyTorch's writer does.</summary>
    private sealed class StoredZipWriter(Stream stream)
    {
        private const ushort Utf8Flag = 0x0800;
        private const ushort PaddingFieldId = 0x4246;   // "FB", PyTorch's alignment padding field
        private readonly List<(byte[] Name, uint Crc, long Size, long Offset)> _entries = [];

        public void Add(string name, ReadOnlySpan<byte> data)
        {
            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            long offset = stream.Position;
            uint crc = Crc32.Compute(data);
            // Local header 30 + name + padding field (4 + k) so the data starts on an aligned offset.
            long dataStart = offset + 30 + nameBytes.Length + 4;
            int pad = (int)((DataAlignment - dataStart % DataAlignment) % DataAlignment);
            Span<byte> h = stackalloc byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 0);          // version needed
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], Utf8Flag);
            BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);          // stored
            BinaryPrimitives.WriteUInt32LittleEndian(h[10..], 0);         // time, date
            BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)(4 + pad));
            stream.Write(h);
            stream.Write(nameBytes);
            Span<byte> field = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16LittleEndian(field, PaddingFieldId);
            BinaryPrimitives.WriteUInt16LittleEndian(field[2..], (ushort)pad);
            stream.Write(field);
            stream.Write(new byte[pad]);
            stream.Write(data);
            _entries.Add((nameBytes, crc, data.Length, offset));
        }

        public void Finish()
        {
            long cdStart = stream.Position;
            Span<byte> c = stackalloc byte[46];
            Span<byte> z = stackalloc byte[12];
            foreach ((byte[] name, uint crc, long size, long offset) in _entries)
            {
                bool big = offset >= uint.MaxValue;
                c.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014b50);
                BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 0);                  // made by
                BinaryPrimitives.WriteUInt16LittleEndian(c[6..], (ushort)(big ? 45 : 0));
                BinaryPrimitives.WriteUInt16LittleEndian(c[8..], Utf8Flag);
                BinaryPrimitives.WriteUInt16LittleEndian(c[10..], 0);
                BinaryPrimitives.WriteUInt32LittleEndian(c[12..], 0);
                BinaryPrimitives.WriteUInt32LittleEndian(c[16..], crc);
                BinaryPrimitives.WriteUInt32LittleEndian(c[20..], (uint)size);
                BinaryPrimitives.WriteUInt32LittleEndian(c[24..], (uint)size);
                BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)name.Length);
                BinaryPrimitives.WriteUInt16LittleEndian(c[30..], (ushort)(big ? 12 : 0));
                BinaryPrimitives.WriteUInt32LittleEndian(c[42..], big ? uint.MaxValue : (uint)offset);
                stream.Write(c);
                stream.Write(name);
                if (big)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(z, 0x0001);
                    BinaryPrimitives.WriteUInt16LittleEndian(z[2..], 8);
                    BinaryPrimitives.WriteInt64LittleEndian(z[4..], offset);
                    stream.Write(z);
                }
            }
            long cdEnd = stream.Position;
            long cdSize = cdEnd - cdStart;
            bool zip64 = cdStart >= uint.MaxValue || cdSize >= uint.MaxValue || _entries.Count >= ushort.MaxValue;
            if (zip64)
            {
                Span<byte> r = stackalloc byte[56];
                BinaryPrimitives.WriteUInt32LittleEndian(r, 0x06064b50);
                BinaryPrimitives.WriteInt64LittleEndian(r[4..], 44);
                BinaryPrimitives.WriteUInt16LittleEndian(r[12..], 45);
                BinaryPrimitives.WriteUInt16LittleEndian(r[14..], 45);
                BinaryPrimitives.WriteInt64LittleEndian(r[24..], _entries.Count);
                BinaryPrimitives.WriteInt64LittleEndian(r[32..], _entries.Count);
                BinaryPrimitives.WriteInt64LittleEndian(r[40..], cdSize);
                BinaryPrimitives.WriteInt64LittleEndian(r[48..], cdStart);
                stream.Write(r);
                Span<byte> l = stackalloc byte[20];
                BinaryPrimitives.WriteUInt32LittleEndian(l, 0x07064b50);
                BinaryPrimitives.WriteInt64LittleEndian(l[8..], cdEnd);
                BinaryPrimitives.WriteUInt32LittleEndian(l[16..], 1);
                stream.Write(l);
            }
            Span<byte> e = stackalloc byte[22];
            BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
            ushort count = zip64 ? ushort.MaxValue : (ushort)_entries.Count;
            BinaryPrimitives.WriteUInt16LittleEndian(e[8..], count);
            BinaryPrimitives.WriteUInt16LittleEndian(e[10..], count);
            BinaryPrimitives.WriteUInt32LittleEndian(e[12..], zip64 ? uint.MaxValue : (uint)cdSize);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], zip64 ? uint.MaxValue : (uint)cdStart);
            stream.Write(e);
        }
    }
}
