using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tensors;

/// <summary>
/// Device memory owned by a CUDA backend. The backend allocates it (from the Runtime's memory pool) and passes
/// an owner object whose <see cref="IDisposable.Dispose"/> returns the block to the pool; Tensors never calls CUDA.
/// </summary>
public sealed class CudaStorage : Storage
{
    private static readonly object GuardGate = new();
    private static readonly HashSet<CudaStorage> GuardedLive = [];
    private static readonly List<GuardViolation> Violations = [];
    private static int _guardBytes;

    private IDisposable? _owner;
    private readonly IGuardBandMemory? _guardMemory;
    private readonly ulong _guardBlock;
    private readonly int _guardBand;
    private bool _guardReported;

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

    private CudaStorage(DeviceBuffer block, long bytes, Device device, IGuardBandMemory memory, int band)
        : this((nint)(block.Pointer + (ulong)band), bytes, device, block)
    {
        _guardMemory = memory;
        _guardBlock = block.Pointer;
        _guardBand = band;
    }

    /// <summary>
    /// Test hook (STYLE.md §9): when non-zero, every storage rented by <see cref="Rent"/> is padded with this many
    /// canary bytes before and after its usable region (see <see cref="CudaGuardBands"/>), filled on the device's
    /// stream at allocation and checked when the storage is released or by <see cref="CheckGuardBands"/>; damaged
    /// bands are collected for <see cref="TakeGuardViolations"/>. 0 (the default) rents exactly as without the hook.
    /// Must be 0 or a multiple of <see cref="CudaGuardBands.BandAlignment"/>. Not for use during CUDA graph capture
    /// (the check reads the bands back synchronously).
    /// </summary>
    public static int GuardBytes
    {
        get => Volatile.Read(ref _guardBytes);
        set
        {
            CudaGuardBands.Validate(value);
            Volatile.Write(ref _guardBytes, value);
        }
    }

    /// <summary>
    /// Sets <see cref="GuardBytes"/> to <paramref name="bandBytes"/> until the returned scope is disposed, which
    /// restores the previous width (storages rented meanwhile stay guarded until released).
    /// </summary>
    /// <param name="bandBytes">Band width in bytes.</param>
    public static IDisposable EnableGuardBands(int bandBytes = CudaGuardBands.DefaultBandBytes)
    {
        int previous = GuardBytes;
        GuardBytes = bandBytes;
        return new GuardScope(previous);
    }

    /// <summary>
    /// Rents <paramref name="bytes"/> from the device's memory pool; the block returns to the pool when the last
    /// tensor viewing it is disposed. With <see cref="GuardBytes"/> set the storage is guarded.
    /// </summary>
    public static CudaStorage Rent(CudaDevice device, long bytes)
    {
        int band = GuardBytes;
        if (band != 0)
            return RentGuarded(device.Pool, bytes, Tensors.Device.Cuda(device.Ordinal), new StreamGuardMemory(device.Stream), band);
        var buf = device.Pool.Rent(Math.Max(bytes, 1));
        return new CudaStorage((nint)buf.Pointer, bytes, Tensors.Device.Cuda(device.Ordinal), buf);
    }

    /// <summary>
    /// Rents a guarded storage of <paramref name="bytes"/> usable bytes from <paramref name="pool"/>: the block holds
    /// <paramref name="bandBytes"/> of canary on each side (filled through <paramref name="memory"/> now) and
    /// <see cref="DevicePointer"/> points past the first band. <see cref="Rent"/> calls this while the hook is on.
    /// </summary>
    /// <param name="pool">The pool to rent the padded block from.</param>
    /// <param name="bytes">Usable size in bytes.</param>
    /// <param name="device">The CUDA device.</param>
    /// <param name="memory">Writes and reads the bands (the device's stream).</param>
    /// <param name="bandBytes">Band width, a positive multiple of <see cref="CudaGuardBands.BandAlignment"/>.</param>
    public static CudaStorage RentGuarded(DeviceMemoryPool pool, long bytes, Device device, IGuardBandMemory memory, int bandBytes)
    {
        var (rent, _, _, _) = CudaGuardBands.Layout(bytes, bandBytes);
        var block = pool.Rent(rent);
        CudaStorage storage;
        try
        {
            CudaGuardBands.Fill(memory, block.Pointer, bytes, bandBytes);
            storage = new CudaStorage(block, bytes, device, memory, bandBytes);
        }
        catch
        {
            block.Dispose();
            throw;
        }

        lock (GuardGate) GuardedLive.Add(storage);
        return storage;
    }

    /// <summary>
    /// Checks the bands of every guarded storage not yet released (reading them back waits for queued work); each
    /// damaged storage is reported once. Returns the number of new violations.
    /// </summary>
    public static int CheckGuardBands()
    {
        CudaStorage[] live;
        lock (GuardGate) live = [.. GuardedLive];
        int found = 0;
        foreach (var s in live)
            if (!s.IsReleased && s.CheckGuard()) found++;
        return found;
    }

    /// <summary>The guard band violations found since the last call, oldest first; clears the list.</summary>
    public static IReadOnlyList<GuardViolation> TakeGuardViolations()
    {
        lock (GuardGate)
        {
            GuardViolation[] taken = [.. Violations];
            Violations.Clear();
            return taken;
        }
    }

    /// <summary>The pool buffer when the storage was rented with <see cref="Rent"/>, else null (for a guarded
    /// storage, the padded block that starts one band below <see cref="DevicePointer"/>).</summary>
    public DeviceBuffer? Buffer => _owner as DeviceBuffer;

    /// <summary>Device address of the block.</summary>
    public nint DevicePointer { get; }

    /// <summary>The pool lease or buffer object that owns the block.</summary>
    public IDisposable? Owner => _owner;

    /// <summary>True when the storage sits between canary guard bands.</summary>
    public bool IsGuarded => _guardMemory is not null;

    /// <summary>Element type of the tensor the storage was allocated for, when known (guard band reports).</summary>
    public DType? ElementType { get; set; }

    /// <inheritdoc />
    protected override void Free()
    {
        try
        {
            if (_guardMemory is not null)
            {
                lock (GuardGate) GuardedLive.Remove(this);
                if (_owner is DeviceBuffer { IsDisposed: false }) CheckGuard();
            }
        }
        finally
        {
            _owner?.Dispose();
            _owner = null;
        }
    }

    // Reads the bands back; records the first violation once per storage. True when a new one was recorded.
    private bool CheckGuard()
    {
        if (_guardReported) return false;
        var v = CudaGuardBands.Check(_guardMemory!, _guardBlock, ByteLength, _guardBand, ElementType);
        if (v is null) return false;
        _guardReported = true;
        lock (GuardGate) Violations.Add(v);
        return true;
    }

    private sealed class GuardScope(int previous) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            GuardBytes = previous;
        }
    }
}
