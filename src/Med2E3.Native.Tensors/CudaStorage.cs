using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tensors;

/// <summary>
/// Device memory owned by a CUDA backend. The backend allocates it (from the Runtime's memory pool) and passes
/// an owner object whose <see cref="IDisposable.Dispose"/> returns the block to the pool; Tensors never calls CUDA.
/// </summary>
public sealed class CudaStorage : Storage
{
    private IDisposable? _owner;

    /// <summary>Wraps a device allocation.</summary>
    /// <param name="devicePointer">CUdeviceptr of the block.</param>
    /// <param name="bytes">Size in bytes.</param>
    /// <param name="device">The CUDA device.</param>
    /// <param name="owner">Returns the block to its pool when disposed (e.g. the Runtime's DeviceBuffer).</param>
    public CudaStorage(nint devicePointer, long bytes, Device device, IDisposable? owner) : base(bytes, device)
    {
        if (device.Kind != DeviceKind.Cuda)
            throw new ArgumentException("CudaStorage.cs: device must be a CUDA device", nameof(device));
        DevicePointer = devicePointer;
        _owner = owner;
    }

    /// <summary>
    /// Rents <paramref name="bytes"/> from the device's memory pool; the block returns to the pool when the last
    /// tensor viewing it is disposed.
    /// </summary>
    public static CudaStorage Rent(CudaDevice device, long bytes)
    {
        var buf = device.Pool.Rent(Math.Max(bytes, 1));
        return new CudaStorage((nint)buf.Pointer, bytes, Tensors.Device.Cuda(device.Ordinal), buf);
    }

    /// <summary>The pool buffer when the storage was rented with <see cref="Rent"/>, else null.</summary>
    public DeviceBuffer? Buffer => _owner as DeviceBuffer;

    /// <summary>Device address of the block.</summary>
    public nint DevicePointer { get; }

    /// <summary>The pool lease or buffer object that owns the block.</summary>
    public IDisposable? Owner => _owner;

    /// <inheritdoc />
    protected override void Free()
    {
        _owner?.Dispose();
        _owner = null;
    }
}
