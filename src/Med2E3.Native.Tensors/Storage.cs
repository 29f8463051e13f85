namespace Med2E3.Native.Tensors;

/// <summary>
/// A reference-counted block of memory shared by a tensor and its views. The creator holds the first reference;
/// every tensor that views it adds one; the memory is released when the count reaches zero.
/// </summary>
public abstract class Storage
{
    private int _refs = 1;

    /// <summary>Creates storage of <paramref name="byteLength"/> bytes on <paramref name="device"/>.</summary>
    protected Storage(long byteLength, Device device)
    {
        ByteLength = byteLength;
        Device = device;
    }

    /// <summary>Size in bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Where the memory lives.</summary>
    public Device Device { get; }

    /// <summary>Current reference count (diagnostics).</summary>
    public int RefCount => Volatile.Read(ref _refs);

    /// <summary>True once the memory has been released.</summary>
    public bool IsReleased => Volatile.Read(ref _refs) <= 0;

    /// <summary>Adds a reference.</summary>
    /// <exception cref="ObjectDisposedException">The storage was already released.</exception>
    public void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
            throw new ObjectDisposedException(nameof(Storage), "Storage.cs: AddRef on released storage");
    }

    /// <summary>Drops a reference; frees the memory on the last one.</summary>
    public void Release()
    {
        int r = Interlocked.Decrement(ref _refs);
        if (r == 0) Free();
        else if (r < 0) throw new InvalidOperationException("Storage.cs: storage released more times than referenced");
    }

    /// <summary>Frees the underlying memory. Called once.</summary>
    protected abstract void Free();
}
