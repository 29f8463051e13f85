namespace Med2E3.Native.Tensors;

public sealed unsafe partial class Tensor
{
    internal static Tensor Empty(int[] shape, DType dtype, Device device, bool register)
    {
        foreach (int d in shape)
            if (d < 0) throw new ShapeMismatchException("Empty", shape, "negative size");
        long bytes = Shapes.Numel(shape) * dtype.SizeOf();
        Storage s = device.Kind == DeviceKind.Cpu ? CpuStorage.Allocate(bytes) : Backends.For(device).Allocate(bytes, device);
        if (s is CudaStorage { IsGuarded: true } guarded) guarded.ElementType = dtype;
        return new Tensor(s, dtype, (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0, register);
    }

    /// <summary>Uninitialised contiguous tensor.</summary>
    public static Tensor Empty(int[] shape, DType dtype = DType.F32, Device? device = null) =>
        Empty(shape, dtype, device ?? Device.Cpu, register: true);

    /// <summary>Zero-filled tensor.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.F32, Device? device = null) => Full(shape, 0, dtype, device);

    /// <summary>One-filled tensor.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.F32, Device? device = null) => Full(shape, 1, dtype, device);

    /// <summary>Tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.F32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        TensorMath.Fill(t, value);
        return t;
    }

    /// <summary>A zero-filled tensor with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like) => Zeros(like.Shape, like.DType, like.Device);

    /// <summary>A one-element tensor of shape () holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.F32, Device? device = null) => Full([], value, dtype, device);

    /// <summary>0, 1, …, n−1.</summary>
    public static Tensor Arange(int n, DType dtype = DType.I64, Device? device = null)
    {
        var t = Empty([n], dtype, Device.Cpu);
        for (int i = 0; i < n; i++) TensorMath.Write(dtype, t.DataPointer + (long)i * t.ElementSize, i);
        return MoveTo(t, device);
    }

    private static Tensor MoveTo(Tensor cpu, Device? device)
    {
        if (device is null || device.Value.Kind == DeviceKind.Cpu) return cpu;
        using (cpu) return cpu.To(device.Value);
    }

    private static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[] shape, DType dtype, Device? device) where T : unmanaged
    {
        if (shape.Length == 0 && data.Length != 1) shape = [data.Length];
        if (Shapes.Numel(shape) != data.Length)
            throw new ShapeMismatchException("FromArray", shape, $"{data.Length} values do not fill it");
        var t = Empty(shape, dtype, Device.Cpu);
        data.CopyTo(new Span<T>(t.DataPointer, data.Length));
        return MoveTo(t, device);
    }

    /// <summary>F32 tensor from values (copied); the shape defaults to 1-D.</summary>
    public static Tensor FromArray(float[] data, params int[] shape) => FromSpan<float>(data, shape, DType.F32, null);

    /// <summary>F64 tensor from values (copied).</summary>
    public static Tensor FromArray(double[] data, params int[] shape) => FromSpan<double>(data, shape, DType.F64, null);

    /// <summary>I32 tensor from values (copied).</summary>
    public static Tensor FromArray(int[] data, params int[] shape) => FromSpan<int>(data, shape, DType.I32, null);

    /// <summary>I64 tensor from values (copied).</summary>
    public static Tensor FromArray(long[] data, params int[] shape) => FromSpan<long>(data, shape, DType.I64, null);

    /// <summary>F16 tensor from values (copied).</summary>
    public static Tensor FromArray(Half[] data, params int[] shape) => FromSpan<Half>(data, shape, DType.F16, null);

    /// <summary>Bool tensor from values (copied).</summary>
    public static Tensor FromArray(bool[] data, params int[] shape) => FromSpan<bool>(data, shape, DType.Bool, null);

    /// <summary>BF16 tensor from raw bfloat16 bits (copied).</summary>
    public static Tensor FromBf16Bits(ushort[] bits, params int[] shape) => FromSpan<ushort>(bits, shape, DType.BF16, null);

    /// <summary>Tensor of the dtype of T from a span of CLR values (copied) on <paramref name="device"/>.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[] shape, Device? device = null) where T : unmanaged =>
        FromSpan(data, shape, DTypeExtensions.Of<T>(), device);

    /// <summary>F32 values converted to <paramref name="dtype"/> (rounded to nearest even for bf16/f16).</summary>
    public static Tensor FromFloats(float[] data, int[] shape, DType dtype, Device? device = null)
    {
        using var f = FromSpan<float>(data, shape, DType.F32, null);
        var t = Empty(f.Shape, dtype, Device.Cpu);
        TensorMath.Copy(f, t);
        return MoveTo(t, device);
    }

    /// <summary>
    /// A tensor viewing existing storage (e.g. a weight arena). Adds a reference to <paramref name="storage"/>;
    /// strides default to contiguous.
    /// </summary>
    /// <exception cref="ShapeMismatchException">The view reaches outside the storage.</exception>
    public static Tensor FromStorage(Storage storage, DType dtype, int[] shape, int[]? strides = null, long offset = 0)
    {
        strides ??= Shapes.ContiguousStrides(shape);
        long max = offset, min = offset;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0) { max = min = offset; break; }
            long ext = (long)(shape[i] - 1) * strides[i];
            if (ext > 0) max += ext; else min += ext;
        }
        if (min < 0 || (max + 1) * dtype.SizeOf() > storage.ByteLength)
            throw new ShapeMismatchException("FromStorage", shape, $"view [{min}, {max}] exceeds storage of {storage.ByteLength} bytes");
        storage.AddRef();
        return new Tensor(storage, dtype, (int[])shape.Clone(), (int[])strides.Clone(), offset);
    }

    /// <summary>Standard-normal values from <paramref name="seed"/> (platform independent).</summary>
    public static Tensor Randn(long seed, int[] shape, DType dtype = DType.F32, Device? device = null, double std = 1.0)
    {
        var rng = new SeededRandom(seed);
        var v = new double[Shapes.Numel(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextGaussian() * std;
        return FromDoubles(v, shape, dtype, device);
    }

    /// <summary>Uniform values in [lo, hi) from <paramref name="seed"/>.</summary>
    public static Tensor Rand(long seed, int[] shape, double lo = 0, double hi = 1, DType dtype = DType.F32, Device? device = null)
    {
        var rng = new SeededRandom(seed);
        var v = new double[Shapes.Numel(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = lo + (hi - lo) * rng.NextDouble();
        return FromDoubles(v, shape, dtype, device);
    }

    /// <summary>Uniform integers in [lo, hi) from <paramref name="seed"/>.</summary>
    public static Tensor RandInt(long seed, int[] shape, long lo, long hi, DType dtype = DType.I64, Device? device = null)
    {
        var rng = new SeededRandom(seed);
        var v = new double[Shapes.Numel(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextLong(lo, hi);
        return FromDoubles(v, shape, dtype, device);
    }

    /// <summary>Values given as doubles, converted to <paramref name="dtype"/>.</summary>
    public static Tensor FromDoubles(double[] v, int[] shape, DType dtype, Device? device = null)
    {
        using var d = FromSpan<double>(v, shape, DType.F64, null);
        var t = Empty(d.Shape, dtype, Device.Cpu);
        TensorMath.Copy(d, t);
        return MoveTo(t, device);
    }

    /// <summary>Copies the elements (row-major, any layout, any device) into a new array of <typeparamref name="T"/>.</summary>
    /// <exception cref="DTypeMismatchException">T does not match the dtype (ushort for BF16).</exception>
    public T[] ToArray<T>() where T : unmanaged
    {
        CheckElementType<T>("ToArray");
        using var host = Device.Kind == DeviceKind.Cpu ? ContiguousNoGrad(register: false) : ToHostNoGrad();
        var a = new T[host.Numel];
        new ReadOnlySpan<T>(host.DataPointer, a.Length).CopyTo(a);
        return a;
    }

    private Tensor ToHostNoGrad()
    {
        var r = Empty(_shape, DType, Device.Cpu, register: false);
        CopyAcrossDevices(this, r);
        return r;
    }

    /// <summary>The elements converted to float (any dtype, layout, device).</summary>
    public float[] ToFloatArray()
    {
        if (DType == DType.F32) return ToArray<float>();
        using var f = ToHostAs(DType.F32);
        return f.ToArray<float>();
    }

    /// <summary>The elements converted to double (any dtype, layout, device).</summary>
    public double[] ToDoubleArray()
    {
        if (DType == DType.F64) return ToArray<double>();
        using var f = ToHostAs(DType.F64);
        return f.ToArray<double>();
    }

    /// <summary>The elements converted to long (integer and bool tensors; floats truncate).</summary>
    public long[] ToLongArray()
    {
        if (DType == DType.I64) return ToArray<long>();
        using var f = ToHostAs(DType.I64);
        return f.ToArray<long>();
    }

    private Tensor ToHostAs(DType dt)
    {
        using var host = Device.Kind == DeviceKind.Cpu ? AliasUntracked() : ToHostNoGrad();
        var r = Empty(_shape, dt, Device.Cpu, register: false);
        TensorMath.Copy(host, r);
        return r;
    }

    /// <summary>The single element of a one-element tensor.</summary>
    /// <exception cref="ShapeMismatchException">More than one element.</exception>
    public T Item<T>() where T : unmanaged
    {
        if (Numel != 1) throw new ShapeMismatchException("Item", _shape, "Item needs exactly one element");
        return ToArray<T>()[0];
    }

    /// <summary>The single element converted to double.</summary>
    public double ItemDouble()
    {
        if (Numel != 1) throw new ShapeMismatchException("Item", _shape, "Item needs exactly one element");
        return ToDoubleArray()[0];
    }
}
