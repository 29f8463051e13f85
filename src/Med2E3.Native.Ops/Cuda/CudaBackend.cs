using System.Runtime.CompilerServices;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

[assembly: InternalsVisibleTo("Med2E3.Native.Tests")]
[assembly: InternalsVisibleTo("Med2E3.Native.Tests.Cuda")]
[assembly: InternalsVisibleTo("med2e3-bench")]

namespace Med2E3.Native.Ops.Cuda;

/// <summary>
/// The CUDA backend: runs every op on one <see cref="CudaDevice"/> with the kernels of <c>kernels/*.cu</c> (compiled
/// by NVRTC on first use) and cuBLAS for products. All work goes to the device's main stream in issue order, so
/// pool blocks returned after a launch are only reused by later launches. f32 and bf16 run everywhere (bf16 with f32
/// arithmetic, rounded once on store, as the CPU backend does); copies and fills take every dtype.
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    private const int Block = 256;
    private readonly CudaDevice _device;
    private readonly CudaStream _stream;

    /// <summary>Creates a backend over <paramref name="device"/> (not yet registered).</summary>
    /// <param name="device">The device; the backend uses its pool, module cache, main stream and cuBLAS handle.</param>
    public CudaBackend(CudaDevice device)
    {
        _device = device;
        _stream = device.Stream;
        TensorDevice = Tensors.Device.Cuda(device.Ordinal);
    }

    /// <summary>
    /// Creates the backend for <paramref name="device"/>, registers it with <see cref="Backends"/> (replacing an
    /// earlier CUDA backend) and records the CUDA kernel variants of every op in <see cref="OpRegistry"/>.
    /// </summary>
    /// <param name="device">The device to run on.</param>
    public static CudaBackend Register(CudaDevice device)
    {
        var backend = new CudaBackend(device);
        Backends.Register(backend);
        CudaVariants.RegisterAll();
        return backend;
    }

    /// <summary>The device this backend runs on.</summary>
    public CudaDevice Device => _device;

    /// <summary>The tensor-level device (<c>cuda:N</c>).</summary>
    public Device TensorDevice { get; }

    /// <inheritdoc />
    public string Name => "cuda";

    /// <inheritdoc />
    public DeviceKind DeviceKind => DeviceKind.Cuda;

    /// <inheritdoc />
    public bool Supports(OpKind op, DType dtype) => op switch
    {
        OpKind.Copy or OpKind.Fill or OpKind.Cast or OpKind.Reshape or OpKind.Permute or OpKind.Narrow or OpKind.Expand
            or OpKind.Concat or OpKind.Split or OpKind.RepeatInterleave => true,
        _ => dtype is DType.F32 or DType.BF16,
    };

    /// <inheritdoc />
    public Storage Allocate(long bytes, Device device)
    {
        CheckDevice(device);
        return CudaStorage.Rent(_device, bytes);
    }

    /// <inheritdoc />
    public void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst) => _stream.Upload(src, Ptr(dst));

    /// <inheritdoc />
    public void CopyToHost(Tensor src, Span<byte> dst) => _stream.Download(Ptr(src), dst);

    /// <inheritdoc />
    public void Copy(Tensor src, Tensor dst)
    {
        if (src.Numel == 0) return;
        if (src.DType == dst.DType && src.IsContiguous && dst.IsContiguous)
        {
            _stream.CopyDeviceToDevice(Ptr(src), Ptr(dst), src.Numel * src.ElementSize);
            return;
        }

        var p = Strided(dst.ShapeSpan, "Copy");
        p.A = Ptr(src);
        p.Y = Ptr(dst);
        p.ADtype = (int)src.DType;
        p.YDtype = (int)dst.DType;
        SetStrides(ref p, src.StridesSpan, null, dst.StridesSpan);
        Kernel("strided.cu", "copy_fwd_any").Launch(_stream, GridStride(p.N, 1), Block, 0, p);
    }

    /// <inheritdoc />
    public void Fill(Tensor dst, double value)
    {
        if (dst.Numel == 0) return;
        var p = Strided(dst.ShapeSpan, "Fill");
        p.Y = Ptr(dst);
        p.YDtype = (int)dst.DType;
        p.Value = value;
        SetStrides(ref p, null, null, dst.StridesSpan);
        Kernel("strided.cu", "fill_fwd_any").Launch(_stream, GridStride(p.N, 1), Block, 0, p);
    }

    // ---- helpers shared by the op files ---------------------------------------------------------------------------

    /// <summary>Device address of the first element of <paramref name="t"/> (0 for null).</summary>
    internal static ulong Ptr(Tensor? t)
    {
        if (t is null) return 0;
        if (t.Storage is not CudaStorage s)
            throw new DeviceMismatchException("CudaBackend", t.Device, Tensors.Device.Cuda(0));
        return (ulong)s.DevicePointer + (ulong)(t.Offset * t.ElementSize);
    }

    private void CheckDevice(Device device)
    {
        if (device != TensorDevice)
            throw new DeviceMismatchException("CudaBackend", device, TensorDevice);
    }

    internal CudaKernel Kernel(string file, string name) => _device.GetKernel(file, name);

    /// <summary>Launches a kernel of <paramref name="file"/> on the main stream with a params struct.</summary>
    internal void Launch<TParams>(string file, string kernel, Dim3 grid, in TParams p, int block = Block, int smem = 0)
        where TParams : unmanaged => Kernel(file, kernel).Launch(_stream, grid, block, smem, p);

    /// <summary>Launches a kernel of <paramref name="file"/> on the main stream with plain arguments.</summary>
    internal void Launch(string file, string kernel, Dim3 grid, in KernelArgs args) =>
        Kernel(file, kernel).Launch(_stream, grid, Block, 0, args);

    /// <summary>"f32" or "bf16", the dtype suffix of kernel names; other dtypes are not supported.</summary>
    internal static string Suffix(DType t, OpKind op) => t switch
    {
        DType.F32 => "f32",
        DType.BF16 => "bf16",
        _ => throw new NotSupportedOnBackendException("cuda", op, t, "CUDA kernels exist for f32 and bf16"),
    };

    /// <summary>A grid-stride grid for <paramref name="n"/> items, <paramref name="perThread"/> per step.</summary>
    internal Dim3 GridStride(long n, int perThread)
    {
        long blocks = Math.Max(1, (n + (long)Block * perThread - 1) / ((long)Block * perThread));
        return (uint)Math.Min(blocks, 8L * _device.SmCount);
    }

    /// <summary>A grid of one thread per item.</summary>
    internal static Dim3 Grid(long n, int block = Block) => Math.Max(1u, Dim3.CeilDiv(n, block));

    /// <summary>A grid of one warp per row (8 rows per 256-thread block).</summary>
    internal static Dim3 WarpRows(long rows) => Math.Max(1u, Dim3.CeilDiv(rows, Block / 32));

    /// <summary>Rents scratch for <paramref name="count"/> elements; dispose after its last launch.</summary>
    internal DeviceBuffer<T> Scratch<T>(long count)
        where T : unmanaged => _device.Pool.Rent<T>(Math.Max(1, count));

    internal void Zero(ulong pointer, long bytes)
    {
        if (bytes > 0) _stream.Memset8(pointer, 0, bytes);
    }

    private static KernelParams.StridedParams Strided(ReadOnlySpan<int> shape, string op)
    {
        if (shape.Length > KernelParams.StridedMaxRank)
            throw new NotSupportedOnBackendException("cuda", OpKind.Copy, DType.F32,
                $"{op}: rank {shape.Length} exceeds the {KernelParams.StridedMaxRank} axes of the strided kernels");
        var p = new KernelParams.StridedParams { Rank = shape.Length, N = Shapes.Numel(shape) };
        for (int d = 0; d < shape.Length; d++) SetShape(ref p, d, shape[d]);
        return p;
    }

    private static unsafe void SetShape(ref KernelParams.StridedParams p, int d, int extent) => p.Shape[d] = extent;

    private static unsafe void SetStrides(ref KernelParams.StridedParams p, ReadOnlySpan<int> a, ReadOnlySpan<int> b,
        ReadOnlySpan<int> y)
    {
        for (int d = 0; d < p.Rank; d++)
        {
            p.Sa[d] = a.IsEmpty ? 0 : a[d];
            p.Sb[d] = b.IsEmpty ? 0 : b[d];
            p.Sy[d] = y.IsEmpty ? 0 : y[d];
        }
    }
}
