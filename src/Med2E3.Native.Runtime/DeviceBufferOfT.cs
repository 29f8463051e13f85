namespace Med2E3.Native.Runtime;

/// <summary>A typed lease: <see cref="Count"/> elements of <typeparamref name="T"/>.</summary>
/// <typeparam name="T">Element type.</typeparam>
public sealed class DeviceBuffer<T> : DeviceBuffer
    where T : unmanaged
{
    internal DeviceBuffer(DeviceMemoryPool pool, long count, long bytes)
        : base(pool, bytes)
    {
        Count = count;
    }

    /// <summary>Number of elements.</summary>
    public long Count { get; }

    /// <summary>The device address of element <paramref name="index"/>.</summary>
    /// <param name="index">Element index, 0 ≤ index ≤ Count.</param>
    public unsafe ulong ElementPointer(long index)
    {
        if ((ulong)index > (ulong)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"index outside [0, {Count}]");
        }

        return Pointer + (ulong)(index * sizeof(T));
    }
}
