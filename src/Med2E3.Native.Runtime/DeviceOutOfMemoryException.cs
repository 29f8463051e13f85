namespace Med2E3.Native.Runtime;

/// <summary>The device ran out of memory even after the pool released its cache.</summary>
public sealed class DeviceOutOfMemoryException : Exception
{
    /// <summary>Creates the exception with the numbers that explain it.</summary>
    /// <param name="requestedBytes">Bytes asked for.</param>
    /// <param name="bucketBytes">The bucket size actually allocated.</param>
    /// <param name="inUseBytes">Bytes rented out by the pool at the time.</param>
    /// <param name="cachedBytes">Bytes the pool had cached (and released before retrying).</param>
    /// <param name="peakBytes">The pool's peak in-use bytes.</param>
    /// <param name="deviceFreeBytes">Free device memory reported by the driver (-1 if unknown).</param>
    /// <param name="deviceTotalBytes">Total device memory (-1 if unknown).</param>
    public DeviceOutOfMemoryException(
        long requestedBytes, long bucketBytes, long inUseBytes, long cachedBytes, long peakBytes,
        long deviceFreeBytes, long deviceTotalBytes)
        : base(
            $"device out of memory: requested {requestedBytes} B (bucket {bucketBytes} B); pool in use {inUseBytes} B, " +
            $"cached {cachedBytes} B (released and retried), peak {peakBytes} B; device free {deviceFreeBytes} B " +
            $"of {deviceTotalBytes} B")
    {
        RequestedBytes = requestedBytes;
        InUseBytes = inUseBytes;
        CachedBytes = cachedBytes;
    }

    /// <summary>Bytes that were requested.</summary>
    public long RequestedBytes { get; }

    /// <summary>Bytes the pool had rented out.</summary>
    public long InUseBytes { get; }

    /// <summary>Bytes the pool had cached before it released them to retry.</summary>
    public long CachedBytes { get; }
}
