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
