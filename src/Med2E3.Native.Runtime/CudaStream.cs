using System.Runtime.InteropServices;
using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// A non-blocking CUDA stream. Every launch and every copy in this project names its stream; nothing goes to the
/// legacy default stream. Copies from and to managed spans are safe to return from: host-to-device copies from
/// pageable memory are staged before the call returns, and <c>Download</c> waits for the data.
/// </summary>
public sealed class CudaStream : IDisposable
{
    private readonly SafeCudaStreamHandle _handle;

    internal CudaStream(CudaDevice device)
    {
        Device = device;
        Check(cuStreamCreate(out nint raw, CUstream_flags.CU_STREAM_NON_BLOCKING));
        _handle = new SafeCudaStreamHandle();
        _handle.DangerousAttach(raw);
    }

    /// <summary>The device this stream belongs to.</summary>
    public CudaDevice Device { get; }

    /// <summary>The raw <c>CUstream</c>, valid while the stream is alive.</summary>
    public nint Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>True while a <see cref="CudaGraph"/> capture is recording this stream.</summary>
    public bool IsCapturing { get; internal set; }

    /// <summary>Blocks until all work queued on this stream has finished.</summary>
    public void Synchronize()
    {
        Device.MakeCurrent();
        Check(cuStreamSynchronize(Handle));
    }

    /// <summary>True when all work queued on this stream has finished (does not block).</summary>
    public bool IsIdle()
    {
        Device.MakeCurrent();
        return CheckReady(cuStreamQuery(Handle));
    }

    /// <summary>Makes later work on this stream wait until <paramref name="e"/> has completed.</summary>
    /// <param name="e">A recorded event.</param>
    public void Wait(CudaEvent e)
    {
        Device.MakeCurrent();
        Check(cuStreamWaitEvent(Handle, e.Handle, 0));
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> bytes from host memory to device memory.</summary>
    /// <param name="source">Host memory; pinned memory must stay valid until the stream reaches the copy.</param>
    /// <param name="destination">Device pointer.</param>
    /// <param name="bytes">Byte count.</param>
    public unsafe void CopyHostToDevice(void* source, ulong destination, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Device.MakeCurrent();
        Check(cuMemcpyHtoDAsync(destination, (nint)source, (nuint)bytes, Handle));
    }

    /// <summary>
    /// Queues a copy from device memory to host memory. For pageable host memory the call returns once the copy is
    /// done; for pinned memory it returns at once and the data is there after <see cref="Synchronize"/>.
    /// </summary>
    /// <param name="source">Device pointer.</param>
    /// <param name="destination">Host memory.</param>
    /// <param name="bytes">Byte count.</param>
    public unsafe void CopyDeviceToHost(ulong source, void* destination, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Device.MakeCurrent();
        Check(cuMemcpyDtoHAsync((nint)destination, source, (nuint)bytes, Handle));
    }

    /// <summary>Queues a device-to-device copy.</summary>
    /// <param name="source">Device pointer to read.</param>
    /// <param name="destination">Device pointer to write.</param>
    /// <param name="bytes">Byte count.</param>
    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Device.MakeCurrent();
        Check(cuMemcpyDtoDAsync(destination, source, (nuint)bytes, Handle));
    }

    /// <summary>Copies <paramref name="source"/> to device memory at <paramref name="destination"/>.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">Host elements.</param>
    /// <param name="destination">Device pointer with room for <c>source.Length</c> elements.</param>
    public unsafe void Upload<T>(ReadOnlySpan<T> source, ulong destination)
        where T : unmanaged
    {
        // SAFETY: the span is pinned for the call; the driver stages pageable memory before returning.
        fixed (T* p = source)
        {
            CopyHostToDevice(p, destination, (long)source.Length * sizeof(T));
        }
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> at a byte offset.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">Host elements.</param>
    /// <param name="destination">The device buffer.</param>
    /// <param name="destinationOffsetBytes">Byte offset into the buffer.</param>
    public unsafe void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination, long destinationOffsetBytes = 0)
        where T : unmanaged
    {
        long bytes = (long)source.Length * sizeof(T);
        destination.CheckRange(destinationOffsetBytes, bytes);
        Upload(source, destination.Pointer + (ulong)destinationOffsetBytes);
    }

    /// <summary>Copies device memory into <paramref name="destination"/> and waits until the data is there.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">Device pointer holding at least <c>destination.Length</c> elements.</param>
    /// <param name="destination">Host elements to fill.</param>
    public unsafe void Download<T>(ulong source, Span<T> destination)
        where T : unmanaged
    {
        // SAFETY: the span stays pinned until the stream has been synchronised, so the copy finishes inside it.
        fixed (T* p = destination)
        {
            CopyDeviceToHost(source, p, (long)destination.Length * sizeof(T));
            Synchronize();
        }
    }

    /// <summary>Copies from <paramref name="source"/> at a byte offset and waits until the data is there.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device buffer.</param>
    /// <param name="destination">Host elements to fill.</param>
    /// <param name="sourceOffsetBytes">Byte offset into the buffer.</param>
    public unsafe void Download<T>(DeviceBuffer source, Span<T> destination, long sourceOffsetBytes = 0)
        where T : unmanaged
    {
        source.CheckRange(sourceOffsetBytes, (long)destination.Length * sizeof(T));
        Download(source.Pointer + (ulong)sourceOffsetBytes, destination);
    }

    /// <summary>Copies a whole typed buffer to a new array and waits for it.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device buffer.</param>
    public T[] Download<T>(DeviceBuffer<T> source)
        where T : unmanaged
    {
        var result = new T[source.Count];
        Download(source.Pointer, result.AsSpan());
        return result;
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> bytes between two device buffers.</summary>
    /// <param name="source">Buffer to read.</param>
    /// <param name="destination">Buffer to write.</param>
    /// <param name="bytes">Byte count (at most both sizes).</param>
    public void Copy(DeviceBuffer source, DeviceBuffer destination, long bytes)
    {
        source.CheckRange(0, bytes);
        destination.CheckRange(0, bytes);
        CopyDeviceToDevice(source.Pointer, destination.Pointer, bytes);
    }

    /// <summary>Queues setting <paramref name="count"/> bytes to <paramref name="value"/>.</summary>
    /// <param name="destination">Device pointer.</param>
    /// <param name="value">Byte value.</param>
    /// <param name="count">Number of bytes.</param>
    public void Memset8(ulong destination, byte value, long count)
    {
        if (count == 0)
        {
            return;
        }

        Device.MakeCurrent();
        Check(cuMemsetD8Async(destination, value, (nuint)count, Handle));
    }

    /// <summary>Queues setting <paramref name="count"/> 32-bit words to <paramref name="value"/> (4-byte aligned).</summary>
    /// <param name="destination">Device pointer, 4-byte aligned.</param>
    /// <param name="value">Word value (e.g. the bits of a float).</param>
    /// <param name="count">Number of 32-bit words.</param>
    public void Memset32(ulong destination, uint value, long count)
    {
        if (count == 0)
        {
            return;
        }

        Device.MakeCurrent();
        Check(cuMemsetD32Async(destination, value, (nuint)count, Handle));
    }

    /// <summary>Queues zeroing a whole buffer.</summary>
    /// <param name="buffer">The buffer.</param>
    public void Zero(DeviceBuffer buffer) => Memset8(buffer.Pointer, 0, buffer.Bytes);

    /// <summary>Destroys the stream (after the owning device has synchronised it, if disposed by the device).</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            Device.Untrack(this);
            _handle.Dispose();
        }
    }
}
