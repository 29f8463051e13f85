using System.Runtime.InteropServices;

namespace Med2E3.Native.Tensors;

/// <summary>Host memory: 64-byte aligned native memory, or a pinned managed array.</summary>
public sealed unsafe class CpuStorage : Storage
{
    private const int Guard = 64;
    private const byte Canary = 0xA5;
    private static long _canaryViolations;
    private GCHandle _pin;
    private readonly bool _native;
    private readonly bool _guarded;

    private CpuStorage(byte* ptr, long bytes, bool native, GCHandle pin, bool guarded = false) : base(bytes, Device.Cpu)
    {
        Pointer = ptr;
        _native = native;
        _pin = pin;
        _guarded = guarded;
    }

    /// <summary>
    /// When true (tests), new allocations get 64-byte canary bands before and after the block; they are checked
    /// when the storage is freed and every damaged band is counted in <see cref="CanaryViolations"/>.
    /// </summary>
    public static bool GuardBands { get; set; }

    /// <summary>Number of freed storages whose guard bands were overwritten (out-of-bounds writes).</summary>
    public static long CanaryViolations => Interlocked.Read(ref _canaryViolations);

    /// <summary>Base address. Valid until the storage is released.</summary>
    public byte* Pointer { get; private set; }

    /// <summary>Allocates <paramref name="bytes"/> of uninitialised, 64-byte aligned memory.</summary>
    public static CpuStorage Allocate(long bytes)
    {
        if (GuardBands)
        {
            // SAFETY: the block holds Guard + bytes + Guard bytes; Pointer starts after the first band.
            var g = (byte*)NativeMemory.AlignedAlloc((nuint)(bytes + 2 * Guard), 64);
            new Span<byte>(g, Guard).Fill(Canary);
            new Span<byte>(g + Guard + bytes, Guard).Fill(Canary);
            return new CpuStorage(g + Guard, bytes, true, default, guarded: true);
        }
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
        if (_guarded)
        {
            byte* g = Pointer - Guard;
            if (new Span<byte>(g, Guard).IndexOfAnyExcept(Canary) >= 0
                || new Span<byte>(Pointer + ByteLength, Guard).IndexOfAnyExcept(Canary) >= 0)
                Interlocked.Increment(ref _canaryViolations);
            NativeMemory.AlignedFree(g);
        }
        else if (_native) NativeMemory.AlignedFree(Pointer);
        else if (_pin.IsAllocated) _pin.Free();
        Pointer = null;
    }
}
