using System.Runtime.InteropServices;

namespace Med2E3.Native.Tensors;

/// <summary>Host memory: 64-byte aligned native memory, or a pinned managed array.</summary>
public sealed unsafe class CpuStorage : Storage
{
    private GCHandle _pin;
    private readonly bool _native;

    private CpuStorage(byte* ptr, long bytes, bool native, GCHandle pin) : base(bytes, Device.Cpu)
    {
        Pointer = ptr;
        _native = native;
        _pin = pin;
    }

    /// <summary>Base address. Valid until the storage is released.</summary>
    public byte* Pointer { get; private set; }

    /// <summary>Allocates <paramref name="bytes"/> of uninitialised, 64-byte aligned memory.</summary>
    public static CpuStorage Allocate(long bytes)
    {
        // SAFETY: AlignedAlloc returns a block of at least max(bytes,1) bytes or throws OutOfMemoryException.
        var p = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);
        return new CpuStorage(p, bytes, true, default);
    }

    /// <summary>Wraps a managed array without copying; the array is pinned until the storage is released.</summary>
    public static CpuStorage Wrap<T>(T[] array) where T : unmanaged
    {
        var h = GCHandle.Alloc(array, GCHandleType.Pinned);
        // SAFETY: the array is pinned for the lifetime of this storage, so its address is stable.
        return new CpuStorage((byte*)h.AddrOfPinnedObject(), (long)array.Length * sizeof(T), false, h);
    }

    /// <inheritdoc />
    protected override void Free()
    {
        // SAFETY: Free runs once (the last Release); Pointer came from AlignedAlloc when _native.
        if (_native) NativeMemory.AlignedFree(Pointer);
        else if (_pin.IsAllocated) _pin.Free();
        Pointer = null;
    }
}
