using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// One named tensor of a checkpoint: element type, shape and the raw little-endian bytes in contiguous row-major
/// order (storage offset and strides already honoured). Bytes are read from disk on first use of
/// <see cref="Data"/>, <see cref="CopyTo"/> or a conversion, so opening a multi-gigabyte checkpoint is cheap.
/// Conversions reinterpret the little-endian bytes in place, which assumes a little-endian host (x64, arm64).
/// </summary>
public sealed class WeightTensor
{
    /// <summary>Largest single tensor this type holds in one buffer.</summary>
    public const long MaxByteLength = int.MaxValue;

    private readonly int[] _shape;
    private readonly TensorSource _source;
    private byte[]? _cached;

    /// <summary>Wraps bytes already in memory (contiguous, row-major, little-endian).</summary>
    public WeightTensor(string name, StorageDType dtype, int[] shape, ReadOnlyMemory<byte> data)
        : this(name, dtype, shape, new MemorySource("<memory>", data))
    {
        if (data.Length != ByteLength)
        {
            throw new ArgumentException(
                $"tensor {InputText.Quote(name)}: {data.Length} bytes given, shape [{string.Join(",", shape)}] of " +
                $"{dtype} needs {ByteLength}", nameof(data));
        }
    }

    internal WeightTensor(string name, StorageDType dtype, int[] shape, TensorSource source)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        DType = dtype;
        _shape = (int[])shape.Clone();
        long count = 1;
        foreach (int d in _shape)
        {
            if (d < 0)
            {
                throw new CheckpointFormatException(source.FilePath,
                    $"tensor {InputText.Quote(name)} has a negative dimension in shape [{string.Join(",", shape)}]");
            }
            count = checked(count * d);
        }
        ElementCount = count;
        ByteLength = checked(count * dtype.ElementSize());
        if (ByteLength > MaxByteLength)
        {
            throw new CheckpointFormatException(source.FilePath,
                $"tensor {InputText.Quote(name)} needs {ByteLength} bytes, more than one buffer holds ({MaxByteLength})");
        }
        _source = source;
        Shape = Array.AsReadOnly(_shape);
    }

    /// <summary>The key in the state dict, e.g. <c>model.layers.0.self_attn.qkv_proj.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Element type as stored.</summary>
    public StorageDType DType { get; }

    /// <summary>Dimensions, outermost first. Empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary><see cref="ElementCount"/> × element size.</summary>
    public long ByteLength { get; }

    /// <summary>The file the bytes come from ("&lt;memory&gt;" for in-memory tensors).</summary>
    public string SourceFile => _source.FilePath;

    /// <summary>A copy of the shape as an array.</summary>
    public int[] GetShape() => (int[])_shape.Clone();

    /// <summary>The shape as "[a,b,c]".</summary>
    public string ShapeString => FormatShape(_shape);

    internal static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>
    /// The contiguous row-major bytes. The first access reads them from disk; later accesses return the same
    /// buffer. Use <see cref="CopyTo"/> to stream into your own buffer without keeping a copy here.
    /// </summary>
    public ReadOnlyMemory<byte> Data
    {
        get
        {
            if (_source is MemorySource memory)
            {
                return memory.Data;
            }
            byte[]? cached = Volatile.Read(ref _cached);
            if (cached is null)
            {
                var fresh = new byte[ByteLength];
                _source.Read(fresh);
                cached = Interlocked.CompareExchange(ref _cached, fresh, null) ?? fresh;
            }
            return cached;
        }
    }

    /// <summary>True when the bytes are in memory (given in memory, or read before through <see cref="Data"/>).</summary>
    public bool IsLoaded => _source is MemorySource || Volatile.Read(ref _cached) is not null;

    /// <summary>Drops the cached bytes read through <see cref="Data"/>; the next access reads the file again.</summary>
    public void ReleaseCache() => Volatile.Write(ref _cached, null);

    /// <summary>Copies the contiguous bytes into <paramref name="destination"/> (exactly <see cref="ByteLength"/>).</summary>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length != ByteLength)
        {
            throw new ArgumentException(
                $"tensor {InputText.Quote(Name)} has {ByteLength} bytes, destination holds {destination.Length}",
                nameof(destination));
        }
        byte[]? cached = Volatile.Read(ref _cached);
        if (cached is not null)
        {
            cached.CopyTo(destination);
            return;
        }
        _source.Read(destination);
    }

    /// <summary>
    /// Calls <paramref name="use"/> with the contiguous stored bytes (exactly <see cref="ByteLength"/>) and returns
    /// its result. The span is valid during the call only: the in-memory or cached bytes when there are some, a view
    /// of the memory-mapped file where the source allows it (no copy), otherwise one read that is not kept.
    /// </summary>
    public T WithStoredBytes<T>(Func<ReadOnlySpan<byte>, T> use)
    {
        ArgumentNullException.ThrowIfNull(use);
        if (Volatile.Read(ref _cached) is null && _source is StorageViewSource view
            && view.TryUseMapped(use, ByteLength, out T mapped))
        {
            return mapped;
        }
        return use(BytesForConversion());
    }

    /// <summary>Converts every element to float32 (bf16 and f16 widen exactly; f64 and integers round).</summary>
    public float[] ToFloat32()
    {
        var result = new float[ElementCount];
        ToFloat32(result);
        return result;
    }

    /// <summary>Converts every element to float32 into <paramref name="destination"/>.</summary>
    public void ToFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount)
        {
            throw new ArgumentException($"tensor {InputText.Quote(Name)} has {ElementCount} elements, destination holds " +
                                        destination.Length, nameof(destination));
        }
        ReadOnlySpan<byte> b = BytesForConversion();
        switch (DType)
        {
            case StorageDType.F32:
                MemoryMarshal.Cast<byte, float>(b).CopyTo(destination);
                break;
            case StorageDType.BF16:
            {
                // bf16 is the upper half of an f32: widening is a 16-bit shift, exact.
                ReadOnlySpan<ushort> u = MemoryMarshal.Cast<byte, ushort>(b);
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BitConverter.UInt32BitsToSingle((uint)u[i] << 16);
                }
                break;
            }
            case StorageDType.F16:
            {
                ReadOnlySpan<Half> h = MemoryMarshal.Cast<byte, Half>(b);
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)h[i];
                }
                break;
            }
            default:
                double[] wide = ToFloat64(b);
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)wide[i];
                }
                break;
        }
    }

    /// <summary>
    /// The bytes to convert: the cached or in-memory bytes when there are some, otherwise a fresh read that is not
    /// kept, so converting a large checkpoint does not hold every tensor twice.
    /// </summary>
    private ReadOnlySpan<byte> BytesForConversion()
    {
        if (_source is MemorySource memory)
        {
            return memory.Data.Span;
        }
        byte[]? cached = Volatile.Read(ref _cached);
        if (cached is not null)
        {
            return cached;
        }
        var fresh = new byte[ByteLength];
        _source.Read(fresh);
        return fresh;
    }

    /// <summary>Converts every element to float64 (exact for every stored type except i64 beyond 2^53).</summary>
    public double[] ToFloat64() => ToFloat64(BytesForConversion());

    private double[] ToFloat64(ReadOnlySpan<byte> b)
    {
        var result = new double[ElementCount];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = DType switch
            {
                StorageDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b[(4 * i)..]),
                StorageDType.F64 => BinaryPrimitives.ReadDoubleLittleEndian(b[(8 * i)..]),
                StorageDType.F16 => (double)BinaryPrimitives.ReadHalfLittleEndian(b[(2 * i)..]),
                StorageDType.BF16 => BitConverter.UInt32BitsToSingle(
                    (uint)BinaryPrimitives.ReadUInt16LittleEndian(b[(2 * i)..]) << 16),
                StorageDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b[(8 * i)..]),
                StorageDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b[(4 * i)..]),
                StorageDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b[(2 * i)..]),
                StorageDType.I8 => (sbyte)b[i],
                StorageDType.U8 => b[i],
                StorageDType.Bool => b[i] != 0 ? 1.0 : 0.0,
                _ => throw new InvalidOperationException(),
            };
        }
        return result;
    }

    /// <summary>Converts every element to int64; floating-point tensors must hold integral values.</summary>
    public long[] ToInt64()
    {
        var result = new long[ElementCount];
        ReadOnlySpan<byte> b = BytesForConversion();
        if (DType.IsFloatingPoint())
        {
            double[] wide = ToFloat64(b);
            for (int i = 0; i < result.Length; i++)
            {
                if (wide[i] != Math.Floor(wide[i]) || Math.Abs(wide[i]) > 9.2e18)
                {
                    throw new InvalidOperationException(
                        $"tensor {InputText.Quote(Name)} element {i} = {wide[i]} is not an integer");
                }
                result[i] = (long)wide[i];
            }
            return result;
        }
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = DType switch
            {
                StorageDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b[(8 * i)..]),
                StorageDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b[(4 * i)..]),
                StorageDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b[(2 * i)..]),
                StorageDType.I8 => (sbyte)b[i],
                StorageDType.U8 => b[i],
                StorageDType.Bool => b[i] != 0 ? 1 : 0,
                _ => throw new InvalidOperationException(),
            };
        }
        return result;
    }

    /// <summary>A tensor with the same bytes under another name (no copy of data already loaded).</summary>
    public WeightTensor WithName(string name) => new(name, DType, _shape, _source);

    /// <summary>Builds an f32 tensor from values (row-major).</summary>
    public static WeightTensor FromFloat32(string name, int[] shape, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }
        return new WeightTensor(name, StorageDType.F32, shape, bytes);
    }

    /// <summary>
    /// Builds an f32, bf16 or f16 tensor from values (row-major); bf16 and f16 round to nearest even, as PyTorch's
    /// <c>.to(dtype)</c> does.
    /// </summary>
    public static WeightTensor FromFloat32(string name, int[] shape, ReadOnlySpan<float> values, StorageDType dtype)
    {
        switch (dtype)
        {
            case StorageDType.F32:
                return FromFloat32(name, shape, values);
            case StorageDType.BF16:
            {
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                {
                    uint u = BitConverter.SingleToUInt32Bits(values[i]);
                    ushort h = float.IsNaN(values[i])
                        ? (ushort)((u >> 16) | 0x40)
                        : (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), h);
                }
                return new WeightTensor(name, StorageDType.BF16, shape, bytes);
            }
            case StorageDType.F16:
            {
                var bytes = new byte[values.Length * 2];
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
                }
                return new WeightTensor(name, StorageDType.F16, shape, bytes);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only f32, bf16 and f16 are built from floats");
        }
    }

    /// <summary>Builds an i64 tensor from values (row-major).</summary>
    public static WeightTensor FromInt64(string name, int[] shape, ReadOnlySpan<long> values)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), values[i]);
        }
        return new WeightTensor(name, StorageDType.I64, shape, bytes);
    }

    public override string ToString() => $"{Name} {DType.ShortName()} {ShapeString}";
}
