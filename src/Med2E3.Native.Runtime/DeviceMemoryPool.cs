using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// The device memory pool: the only caller of <c>cuMemAlloc</c> and <c>cuMemFree</c>. Requests are rounded up to a
/// size bucket (powers of two from 512 B up to 1 MiB, then multiples of 2 MiB); a returned block goes into the cache
/// of its bucket and is handed out again for the next request of that bucket. On out-of-memory the pool frees its
/// whole cache and retries once, then throws <see cref="DeviceOutOfMemoryException"/>. With
/// <see cref="RuntimeOptions.ExactDeviceAllocations"/> (<c>MED2E3_POOL_EXACT=1</c>) it allocates exactly what is asked
/// and frees each block when it is returned, so no bucket slack or cached block hides an overrun or a use after
/// return from the allocator below it.
/// </summary>
public sealed class DeviceMemoryPool : IDisposable
{
    /// <summary>Smallest bucket in bytes; also the alignment every buffer has at least.</summary>
    public const long MinBucketBytes = 512;

    private const long SmallLimit = 1L << 20;
    private const long LargeGranularity = 2L << 20;

    private readonly IDeviceAllocator _allocator;
    private readonly CudaDevice? _device;
    private readonly object _gate = new();
    private readonly Dictionary<long, Stack<ulong>> _cache = [];
    private readonly HashSet<DeviceBuffer> _live = [];
    private long _inUse;
    private long _requestedInUse;
    private long _peak;
    private long _cached;
    private long _allocations;
    private long _frees;
    private long _hits;
    private bool _disposed;

    internal DeviceMemoryPool(CudaDevice device)
        : this(new DriverAllocator(device), RuntimeOptions.ExactDeviceAllocations)
    {
        _device = device;
    }

    internal DeviceMemoryPool(IDeviceAllocator allocator, bool exact = false)
    {
        _allocator = allocator;
        IsExact = exact;
    }

    /// <summary>
    /// True when this pool allocates exactly and caches nothing: a device's pool created while
    /// <see cref="RuntimeOptions.ExactDeviceAllocations"/> was set.
    /// </summary>
    public bool IsExact { get; }

    /// <summary>The device the memory lives on (null only for a pool over a test allocator).</summary>
    public CudaDevice? Device => _device;

    /// <summary>A snapshot of the pool's counters.</summary>
    public PoolStats Stats
    {
        get
        {
            lock (_gate)
            {
                return new PoolStats(_inUse, _requestedInUse, _peak, _cached, _live.Count, _allocations, _frees, _hits);
            }
        }
    }

    /// <summary>The bucket a request of <paramref name="bytes"/> bytes is served from.</summary>
    /// <param name="bytes">Requested size (positive).</param>
    public static long BucketSize(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (bytes <= MinBucketBytes)
        {
            return MinBucketBytes;
        }

        if (bytes <= SmallLimit)
        {
            return (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)bytes);
        }

        return (bytes + LargeGranularity - 1) / LargeGranularity * LargeGranularity;
    }

    /// <summary>Rents <paramref name="bytes"/> bytes of uninitialised device memory; dispose to return them.</summary>
    /// <param name="bytes">Size in bytes (0 gives an empty buffer with a null pointer).</param>
    public DeviceBuffer Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var buffer = new DeviceBuffer(this, bytes);
        Attach(buffer, bytes);
        return buffer;
    }

    /// <summary>Rents room for <paramref name="count"/> elements of <typeparamref name="T"/>: <c>using var t = pool.Rent&lt;float&gt;(n);</c>.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="count">Element count.</param>
    public unsafe DeviceBuffer<T> Rent<T>(long count)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        long bytes = checked(count * sizeof(T));
        var buffer = new DeviceBuffer<T>(this, count, bytes);
        Attach(buffer, bytes);
        return buffer;
    }

    /// <summary>Frees every cached (unused) block back to the driver.</summary>
    public void ReleaseCache()
    {
        lock (_gate)
        {
            ReleaseCacheLocked();
        }
    }

    /// <summary>Frees all memory, cached and rented; buffers still rented become invalid (disposed).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            ReleaseCacheLocked();
            foreach (DeviceBuffer buffer in _live)
            {
                _allocator.Free(buffer.RawPointer);
                _frees++;
                buffer.MarkReleased();
            }

            _live.Clear();
            _inUse = 0;
            _requestedInUse = 0;
            _disposed = true;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Stats.ToString();

    internal void Return(DeviceBuffer buffer)
    {
        lock (_gate)
        {
            if (_disposed || !_live.Remove(buffer))
            {
                return;
            }

            _inUse -= buffer.CapacityBytes;
            _requestedInUse -= buffer.Bytes;
            if (IsExact)
            {
                _allocator.Free(buffer.RawPointer);
                _frees++;
                return;
            }

            if (!_cache.TryGetValue(buffer.CapacityBytes, out Stack<ulong>? stack))
            {
                stack = new Stack<ulong>();
                _cache[buffer.CapacityBytes] = stack;
            }

            stack.Push(buffer.RawPointer);
            _cached += buffer.CapacityBytes;
        }
    }

    private void Attach(DeviceBuffer buffer, long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        long bucket = IsExact ? bytes : BucketSize(bytes);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ulong pointer;
            if (_cache.TryGetValue(bucket, out Stack<ulong>? stack) && stack.Count > 0)
            {
                pointer = stack.Pop();
                _cached -= bucket;
                _hits++;
            }
            else
            {
                pointer = AllocateLocked(bytes, bucket);
            }

            buffer.Bind(pointer, bucket);
            _live.Add(buffer);
            _inUse += bucket;
            _requestedInUse += bytes;
            _peak = Math.Max(_peak, _inUse);
        }
    }

    private ulong AllocateLocked(long bytes, long bucket)
    {
        if (_allocator.TryAllocate(bucket, out ulong pointer))
        {
            _allocations++;
            return pointer;
        }

        // Out of memory: give the cache back to the driver and try once more.
        long cachedBefore = _cached;
        ReleaseCacheLocked();
        if (_allocator.TryAllocate(bucket, out pointer))
        {
            _allocations++;
            return pointer;
        }

        (long free, long total) = _allocator.MemoryInfo();
        throw new DeviceOutOfMemoryException(bytes, bucket, _inUse, cachedBefore, _peak, free, total);
    }

    private void ReleaseCacheLocked()
    {
        foreach (Stack<ulong> stack in _cache.Values)
        {
            while (stack.Count > 0)
            {
                _allocator.Free(stack.Pop());
                _frees++;
            }
        }

        _cache.Clear();
        _cached = 0;
    }

    private sealed class DriverAllocator(CudaDevice device) : IDeviceAllocator
    {
        public bool TryAllocate(long bytes, out ulong pointer)
        {
            device.MakeCurrent();
            CUresult r = cuMemAlloc(out pointer, (nuint)bytes);
            if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
            {
                return false;
            }

            Check(r);
            return true;
        }

        public void Free(ulong pointer)
        {
            device.MakeCurrent();
            Check(cuMemFree(pointer));
        }

        public (long Free, long Total) MemoryInfo()
        {
            return cuMemGetInfo(out nuint free, out nuint total) == CUresult.CUDA_SUCCESS
                ? ((long)free, (long)total)
                : (-1, -1);
        }
    }
}

/// <summary>Where a <see cref="DeviceMemoryPool"/> gets its blocks (the driver; a fake in tests).</summary>
internal interface IDeviceAllocator
{
    /// <summary>Allocates; false on out-of-memory, throws on other errors.</summary>
    bool TryAllocate(long bytes, out ulong pointer);

    /// <summary>Frees a block from <see cref="TryAllocate"/>.</summary>
    void Free(ulong pointer);

    /// <summary>Free and total bytes, or (-1, -1) when unknown.</summary>
    (long Free, long Total) MemoryInfo();
}
