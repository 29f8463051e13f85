using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>A CUDA event: a marker in a stream, used to time work and to order streams.</summary>
public sealed class CudaEvent : IDisposable
{
    private readonly SafeCudaEventHandle _handle;

    internal CudaEvent(CudaDevice device, bool enableTiming)
    {
        Device = device;
        CUevent_flags flags = enableTiming ? CUevent_flags.CU_EVENT_DEFAULT : CUevent_flags.CU_EVENT_DISABLE_TIMING;
        Check(cuEventCreate(out nint raw, flags));
        _handle = new SafeCudaEventHandle();
        _handle.DangerousAttach(raw);
    }

    /// <summary>The device this event belongs to.</summary>
    public CudaDevice Device { get; }

    /// <summary>The raw <c>CUevent</c>.</summary>
    public nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>Records the event at the current end of <paramref name="stream"/>.</summary>
    /// <param name="stream">The stream.</param>
    public void Record(CudaStream stream)
    {
        Device.MakeCurrent();
        Check(cuEventRecord(Handle, stream.Handle));
    }

    /// <summary>Blocks until the work before the recorded point has finished.</summary>
    public void Synchronize()
    {
        Device.MakeCurrent();
        Check(cuEventSynchronize(Handle));
    }

    /// <summary>True when the recorded work has finished (does not block).</summary>
    public bool IsCompleted()
    {
        Device.MakeCurrent();
        return CheckReady(cuEventQuery(Handle));
    }

    /// <summary>Milliseconds between two completed events (about 0.5 µs resolution).</summary>
    /// <param name="start">The earlier event.</param>
    /// <param name="end">The later event.</param>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        start.Device.MakeCurrent();
        Check(cuEventElapsedTime(out float ms, start.Handle, end.Handle));
        return ms;
    }

    /// <summary>Destroys the event.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Device.Untrack(this);
            _handle.Dispose();
        }
    }
}
