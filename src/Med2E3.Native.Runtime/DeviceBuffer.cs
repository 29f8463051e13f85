namespace Med2E3.Native.Runtime;

/// <summary>
/// A lease on device memory from a <see cref="DeviceMemoryPool"/>. Dispose returns the block to the pool; the
/// contents are uninitialised when rented.
/// </summary>
public class DeviceBuffer : IDisposable
{
    private ulong _pointer;
    private bool _released;

    internal DeviceBuffer(DeviceMemoryPool pool, long bytes)
    {
        Pool = pool;
        Bytes = bytes;
    }

    /// <summary>The pool the memory came from.</summary>
    public DeviceMemoryPool Pool { get; }

    /// <summary>The device address (0 for an empty buffer).</summary>
    public ulong Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_released, this);
            return _pointer;
        }
    }

    /// <summary>Bytes requested; the usable size.</summary>
    public long Bytes { get; }

    /// <summary>Bytes actually reserved (the pool bucket).</summary>
    public long CapacityBytes { get; private set; }

    /// <summary>True once returned to the pool.</summary>
    public bool IsDisposed => _released;

    internal ulong RawPointer => _pointer;

    /// <summary>Returns the memory to the pool. Safe to call twice.</summary>
    public void Dispose()
    {
        if (_released)
        {
            return;
        }

        Pool.Return(this);
        _released = true;
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public override string ToString() => $"DeviceBuffer(0x{_pointer:x}, {Bytes} B)";

    internal void Bind(ulong pointer, long capacity)
    {
        _pointer = pointer;
        CapacityBytes = capacity;
    }

    internal void MarkReleased() => _released = true;

    internal void CheckRange(long offsetBytes, long bytes)
    {
        if (offsetBytes < 0 || bytes < 0 || offsetBytes + bytes > Bytes)
        {
            throw new ArgumentOutOfRangeException(
                nameof(bytes), $"range [{offsetBytes}, {offsetBytes + bytes}) is outside the buffer of {Bytes} B");
        }
    }
}
