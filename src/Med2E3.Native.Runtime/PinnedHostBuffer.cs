using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Page-locked host memory (<c>cuMemHostAlloc</c>): copies to and from it run asynchronously at full PCIe speed.
/// Read it only after synchronising the stream that wrote it.
/// </summary>
public sealed class PinnedHostBuffer : IDisposable
{
    private readonly SafePinnedHostHandle _handle;

    internal PinnedHostBuffer(CudaDevice device, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Device = device;
        Bytes = bytes;
        Check(cuMemHostAlloc(out nint raw, (nuint)bytes, CU_MEMHOSTALLOC_PORTABLE));
        _handle = new SafePinnedHostHandle();
        _handle.DangerousAttach(raw);
    }

    /// <summary>The device that owns the allocation.</summary>
    public CudaDevice Device { get; }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The host address.</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>The memory as a span of <typeparamref name="T"/> (as many whole elements as fit).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    public unsafe Span<T> AsSpan<T>()
        where T : unmanaged
    {
        // SAFETY: the allocation is Bytes long and lives until Dispose; the span is only valid until then.
        return new Span<T>((void*)Pointer, checked((int)(Bytes / sizeof(T))));
    }

    /// <summary>Frees the memory.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Device.Untrack(this);
            _handle.Dispose();
        }
    }
}
