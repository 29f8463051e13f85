using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The pool's bucketing, reuse, statistics and out-of-memory path, over a fake allocator (no GPU).</summary>
public class DeviceMemoryPoolTests
{
    private sealed class FakeAllocator(long capacity) : IDeviceAllocator
    {
        private readonly Dictionary<ulong, long> _blocks = [];
        private ulong _next = 0x7f0000000000;

        public long Used { get; private set; }

        public int Allocations { get; private set; }

        public int Frees { get; private set; }

        public bool TryAllocate(long bytes, out ulong pointer)
        {
            pointer = 0;
            if (Used + bytes > capacity)
            {
                return false;
            }

            pointer = _next;
            _next += (ulong)bytes;
            _blocks[pointer] = bytes;
            Used += bytes;
            Allocations++;
            return true;
        }

        public void Free(ulong pointer)
        {
            Used -= _blocks[pointer];
            _blocks.Remove(pointer);
            Frees++;
        }

        public (long Free, long Total) MemoryInfo() => (capacity - Used, capacity);
    }

    [Theory]
    [InlineData(1, 512)]
    [InlineData(512, 512)]
    [InlineData(513, 1024)]
    [InlineData(1000, 1024)]
    [InlineData(1 << 20, 1 << 20)]
    [InlineData((1 << 20) + 1, 2 << 20)]
    [InlineData((5 << 20) + 7, 6 << 20)]
    public void BucketsArePowersOfTwoThenMultiplesOfTwoMiB(long bytes, long bucket) =>
        Assert.Equal(bucket, DeviceMemoryPool.BucketSize(bytes));

    [Fact]
    public void ReturnedBlocksAreReusedForTheSameBucket()
    {
        var fake = new FakeAllocator(1L << 30);
        using var pool = new DeviceMemoryPool(fake);
        ulong first;
        using (DeviceBuffer a = pool.Rent(1000))
        {
            first = a.Pointer;
            Assert.Equal(1000, a.Bytes);
            Assert.Equal(1024, a.CapacityBytes);
        }

        using DeviceBuffer<float> b = pool.Rent<float>(250);
        Assert.Equal(first, b.Pointer);
        Assert.Equal(250, b.Count);
        Assert.Equal(first + 16, b.ElementPointer(4));
        Assert.Equal(1, fake.Allocations);
        PoolStats s = pool.Stats;
        Assert.Equal(1, s.CacheHits);
        Assert.Equal(1024, s.InUseBytes);
        Assert.Equal(1000, s.RequestedInUseBytes);
        Assert.Equal(0, s.CachedBytes);
        Assert.Equal(1, s.LiveBuffers);
    }

    [Fact]
    public void StatsTrackInUsePeakAndCache()
    {
        var fake = new FakeAllocator(1L << 30);
        using var pool = new DeviceMemoryPool(fake);
        DeviceBuffer a = pool.Rent(3 << 20);
        DeviceBuffer b = pool.Rent(100);
        Assert.Equal((4L << 20) + 512, pool.Stats.InUseBytes);
        a.Dispose();
        a.Dispose();
        PoolStats s = pool.Stats;
        Assert.Equal(512, s.InUseBytes);
        Assert.Equal((4L << 20) + 512, s.PeakInUseBytes);
        Assert.Equal(4L << 20, s.CachedBytes);
        Assert.Throws<ObjectDisposedException>(() => a.Pointer);
        pool.ReleaseCache();
        Assert.Equal(0, pool.Stats.CachedBytes);
        Assert.Equal(1, fake.Frees);
        b.Dispose();
        Assert.Equal(0, pool.Stats.LiveBuffers);
    }

    [Fact]
    public void OutOfMemoryReleasesTheCacheAndRetriesOnce()
    {
        var fake = new FakeAllocator(8L << 20);
        using var pool = new DeviceMemoryPool(fake);
        pool.Rent(6L << 20).Dispose();
        Assert.Equal(6L << 20, pool.Stats.CachedBytes);
        // 4 MiB does not fit next to the cached 6 MiB block; after releasing the cache it does.
        using DeviceBuffer big = pool.Rent(4L << 20);
        Assert.Equal(0, pool.Stats.CachedBytes);
        Assert.Equal(1, fake.Frees);
    }

    [Fact]
    public void OutOfMemoryAfterTheRetryNamesTheRequestAndThePoolState()
    {
        var fake = new FakeAllocator(8L << 20);
        using var pool = new DeviceMemoryPool(fake);
        using DeviceBuffer held = pool.Rent(6L << 20);
        pool.Rent(1000).Dispose();
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => pool.Rent(3_000_000));
        Assert.Equal(3_000_000, e.RequestedBytes);
        Assert.Equal(6L << 20, e.InUseBytes);
        Assert.Equal(1024, e.CachedBytes);
        Assert.Contains("requested 3000000 B", e.Message, StringComparison.Ordinal);
        Assert.Contains($"pool in use {6L << 20} B", e.Message, StringComparison.Ordinal);
        Assert.Contains("cached 1024 B", e.Message, StringComparison.Ordinal);
        Assert.Contains("device free", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DisposingThePoolFreesEverythingAndInvalidatesLiveBuffers()
    {
        var fake = new FakeAllocator(1L << 30);
        var pool = new DeviceMemoryPool(fake);
        DeviceBuffer live = pool.Rent(4096);
        pool.Rent(100).Dispose();
        pool.Dispose();
        Assert.Equal(0, fake.Used);
        Assert.True(live.IsDisposed);
        live.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(1));
    }

    [Fact]
    public void EmptyRentalHasANullPointerAndAllocatesNothing()
    {
        var fake = new FakeAllocator(1L << 30);
        using var pool = new DeviceMemoryPool(fake);
        using DeviceBuffer empty = pool.Rent(0);
        Assert.Equal(0UL, empty.Pointer);
        Assert.Equal(0, fake.Allocations);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-1));
    }
}
