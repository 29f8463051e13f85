namespace Med2E3.Native.Runtime;

/// <summary>Counters of a <see cref="DeviceMemoryPool"/>.</summary>
/// <param name="InUseBytes">Bytes in rented blocks (bucket sizes).</param>
/// <param name="RequestedInUseBytes">Bytes asked for by the live rentals (before rounding to buckets).</param>
/// <param name="PeakInUseBytes">Highest <paramref name="InUseBytes"/> seen.</param>
/// <param name="CachedBytes">Bytes held in the cache, ready for reuse.</param>
/// <param name="LiveBuffers">Number of buffers rented and not returned.</param>
/// <param name="DeviceAllocations">Number of <c>cuMemAlloc</c> calls.</param>
/// <param name="DeviceFrees">Number of <c>cuMemFree</c> calls.</param>
/// <param name="CacheHits">Rentals served from the cache.</param>
public readonly record struct PoolStats(
    long InUseBytes,
    long RequestedInUseBytes,
    long PeakInUseBytes,
    long CachedBytes,
    int LiveBuffers,
    long DeviceAllocations,
    long DeviceFrees,
    long CacheHits)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"in use {InUseBytes} B in {LiveBuffers} buffers (requested {RequestedInUseBytes} B), peak {PeakInUseBytes} B, " +
        $"cached {CachedBytes} B, {DeviceAllocations} allocations, {DeviceFrees} frees, {CacheHits} cache hits";
}
