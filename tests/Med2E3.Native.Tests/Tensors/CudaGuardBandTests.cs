using System.Runtime.InteropServices;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Tensors;

/// <summary>
/// The CUDA storage guard bands (STYLE.md §9) without a GPU: the layout arithmetic, the canary pattern, the band check,
/// and the whole rent → fill → out-of-bounds write → check → release path over a memory pool whose "device" blocks
/// are host memory.
/// </summary>
public sealed unsafe class CudaGuardBandTests : IDisposable
{
    private static readonly Device Gpu = Device.Cuda(0);

    /// <summary>Pool blocks in host memory, 512-byte aligned like the driver's.</summary>
    private sealed class HostAllocator : IDeviceAllocator
    {
        public bool TryAllocate(long bytes, out ulong pointer)
        {
            pointer = (ulong)NativeMemory.AlignedAlloc((nuint)bytes, 512);
            // Uninitialised device memory: make it something other than the canary.
            new Span<byte>((void*)pointer, checked((int)bytes)).Fill(0xEE);
            return true;
        }

        public void Free(ulong pointer) => NativeMemory.AlignedFree((void*)pointer);

        public (long Free, long Total) MemoryInfo() => (-1, -1);
    }

    /// <summary>Band memory over host addresses; counts the words written.</summary>
    private sealed class HostGuardMemory : IGuardBandMemory
    {
        public long WordsFilled { get; private set; }

        public void FillWords(ulong address, uint word, long count)
        {
            Assert.Equal(0UL, address % 4);
            new Span<uint>((void*)address, checked((int)count)).Fill(word);
            WordsFilled += count;
        }

        public void Read(ulong address, Span<byte> destination) =>
            new ReadOnlySpan<byte>((void*)address, destination.Length).CopyTo(destination);
    }

    private readonly DeviceMemoryPool _pool = new(new HostAllocator());
    private readonly HostGuardMemory _memory = new();

    public CudaGuardBandTests() => CudaStorage.TakeGuardViolations();

    public void Dispose()
    {
        CudaStorage.TakeGuardViolations();
        _pool.Dispose();
    }

    private CudaStorage Rent(long bytes, int band = CudaGuardBands.DefaultBandBytes) =>
        CudaStorage.RentGuarded(_pool, bytes, Gpu, _memory, band);

    private static byte* Usable(CudaStorage s) => (byte*)s.DevicePointer;

    [Theory]
    [InlineData(0, 256, 512, 256, 256)]
    [InlineData(1, 256, 516, 257, 256)]
    [InlineData(6, 256, 520, 262, 260)]
    [InlineData(4000, 256, 4512, 4256, 4256)]
    [InlineData(1001, 512, 2028, 1513, 1512)]
    public void LayoutPadsBothSidesAndAlignsTheAfterFill(long usable, int band, long rent, long after, long afterFill)
    {
        var l = CudaGuardBands.Layout(usable, band);
        Assert.Equal(rent, l.RentBytes);
        Assert.Equal(band, l.UsableOffset);
        Assert.Equal(after, l.AfterOffset);
        Assert.Equal(afterFill, l.AfterFillOffset);
        // The after band is whole and the fill ends on a word boundary inside the block.
        Assert.True(l.AfterOffset + band <= l.RentBytes);
        Assert.True(l.RentBytes - (l.AfterOffset + band) < 4);
        Assert.Equal(0, l.RentBytes % 4);
    }

    [Theory]
    [InlineData(-256)]
    [InlineData(100)]
    [InlineData(300)]
    public void BandWidthsThatBreakAlignmentAreRejected(int band)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CudaGuardBands.Validate(band));
        Assert.Contains("CudaGuardBands.cs", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CudaStorage.GuardBytes = band);
    }

    [Fact]
    public void HookIsOffByDefaultAndTheScopeRestoresIt()
    {
        Assert.Equal(0, CudaStorage.GuardBytes);
        using (CudaStorage.EnableGuardBands())
        {
            Assert.Equal(CudaGuardBands.DefaultBandBytes, CudaStorage.GuardBytes);
            using (CudaStorage.EnableGuardBands(512)) Assert.Equal(512, CudaStorage.GuardBytes);
            Assert.Equal(CudaGuardBands.DefaultBandBytes, CudaStorage.GuardBytes);
        }

        Assert.Equal(0, CudaStorage.GuardBytes);
    }

    [Fact]
    public void CanaryBytesRepeatTheWordLittleEndian()
    {
        byte[] word = BitConverter.GetBytes(CudaGuardBands.CanaryWord);
        for (long o = 0; o < 16; o++) Assert.Equal(word[o % 4], CudaGuardBands.CanaryByte(o));
        Assert.Equal(0x3C, CudaGuardBands.CanaryByte(1 << 20));
        // Not a byte-uniform word: a band shifted by one byte would not pass.
        Assert.NotEqual(CudaGuardBands.CanaryByte(0), CudaGuardBands.CanaryByte(1));
    }

    [Fact]
    public void SpanCheckReportsTheBeforeBandFirstWithOffsetsFromTheUsableStart()
    {
        const int band = 256;
        const long usable = 10; // after band starts at block offset 266, not word aligned
        byte[] before = Enumerable.Range(0, band).Select(i => CudaGuardBands.CanaryByte(i)).ToArray();
        byte[] after = Enumerable.Range(0, band).Select(i => CudaGuardBands.CanaryByte(band + usable + i)).ToArray();
        Assert.Null(CudaGuardBands.Check(before, after, usable, DType.BF16));

        after[3] ^= 0xFF;
        var v = CudaGuardBands.Check(before, after, usable, DType.BF16);
        Assert.NotNull(v);
        Assert.Equal(GuardSide.After, v.Side);
        Assert.Equal(usable + 3, v.Offset);
        Assert.Equal(CudaGuardBands.CanaryByte(band + usable + 3), v.Expected);

        before[band - 2] = 0;
        v = CudaGuardBands.Check(before, after, usable, DType.BF16);
        Assert.NotNull(v);
        Assert.Equal(GuardSide.Before, v.Side);
        Assert.Equal(-2, v.Offset);
        Assert.Equal(0, v.Actual);
        Assert.Contains("BEFORE", v.ToString());
        Assert.Contains("element -1", v.ToString());
        Assert.Contains("bf16", v.ToString());

        // An after band read with the wrong phase (as if it started word aligned) is a violation.
        byte[] shifted = Enumerable.Range(0, band).Select(i => CudaGuardBands.CanaryByte(band + 8 + i)).ToArray();
        Assert.NotNull(CudaGuardBands.Check(before.Select((_, i) => CudaGuardBands.CanaryByte(i)).ToArray(), shifted, usable, null));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(4096)]
    [InlineData(12345)]
    public void RentedStoragesSitAlignedBetweenFilledBands(long bytes)
    {
        var s = Rent(bytes);
        try
        {
            Assert.True(s.IsGuarded);
            Assert.Equal(bytes, s.ByteLength);
            Assert.NotNull(s.Buffer);
            ulong block = s.Buffer.Pointer;
            Assert.Equal(block + 256, (ulong)s.DevicePointer);
            Assert.Equal(0UL, (ulong)s.DevicePointer % 256);
            Assert.Equal(CudaGuardBands.Layout(bytes, 256).RentBytes, s.Buffer.Bytes);
            for (int i = 0; i < 256; i++)
            {
                Assert.Equal(CudaGuardBands.CanaryByte(i), ((byte*)block)[i]);
                Assert.Equal(CudaGuardBands.CanaryByte(256 + bytes + i), Usable(s)[bytes + i]);
            }

            // Writing every usable byte is in bounds.
            new Span<byte>(Usable(s), (int)bytes).Fill(0x11);
            Assert.Equal(0, CudaStorage.CheckGuardBands());
        }
        finally
        {
            s.Release();
        }

        Assert.Empty(CudaStorage.TakeGuardViolations());
        Assert.Equal(0, _pool.Stats.LiveBuffers);
    }

    [Fact]
    public void CheckAllFindsAWriteJustPastTheEndAndReportsItOnce()
    {
        var ok = Rent(64);
        var bad = Rent(40);
        bad.ElementType = DType.F32;
        try
        {
            Usable(bad)[40] = 0;
            Usable(bad)[41] = 0; // the first damaged byte is reported
            Assert.Equal(1, CudaStorage.CheckGuardBands());
            Assert.Equal(0, CudaStorage.CheckGuardBands());
            var v = Assert.Single(CudaStorage.TakeGuardViolations());
            Assert.Equal(new GuardViolation(40, DType.F32, GuardSide.After, 40, CudaGuardBands.CanaryByte(256 + 40), 0), v);
            string msg = v.ToString();
            Assert.Contains("40 B", msg);
            Assert.Contains("f32", msg);
            Assert.Contains("AFTER", msg);
            Assert.Contains("byte offset 40, element 10", msg);
        }
        finally
        {
            ok.Release();
            bad.Release();
        }

        // Already reported: releasing does not report it again.
        Assert.Empty(CudaStorage.TakeGuardViolations());
    }

    [Fact]
    public void ReleaseChecksTheBandsOfAStorageNeverCheckedBefore()
    {
        var s = Rent(1000);
        Usable(s)[-256] = 0xEE;  // far end of the before band
        Usable(s)[1000 + 255] = 0;  // far end of the after band
        Assert.Empty(CudaStorage.TakeGuardViolations());
        s.Release();
        var v = Assert.Single(CudaStorage.TakeGuardViolations());
        Assert.Equal(GuardSide.Before, v.Side);
        Assert.Equal(-256, v.Offset);
        Assert.Null(v.DType);
        Assert.Contains("dtype unknown", v.ToString());
        // The block went back to the pool and is reused for the same bucket.
        Assert.Equal(0, _pool.Stats.LiveBuffers);
        var again = Rent(1000);
        Assert.Equal(1, _pool.Stats.CacheHits);
        // Reused blocks are filled afresh: the damage of the last lease is gone.
        Assert.Equal(0, CudaStorage.CheckGuardBands());
        again.Release();
        Assert.Empty(CudaStorage.TakeGuardViolations());
    }

    [Fact]
    public void AStorageOfOddSizeCatchesTheByteRightAfterIt()
    {
        // 3 bf16 elements: 6 usable bytes, the after band starts mid-word.
        var s = Rent(6);
        s.ElementType = DType.BF16;
        Usable(s)[6] = (byte)~CudaGuardBands.CanaryByte(256 + 6);
        s.Release();
        var v = Assert.Single(CudaStorage.TakeGuardViolations());
        Assert.Equal(GuardSide.After, v.Side);
        Assert.Equal(6, v.Offset);
        Assert.Contains("element 3", v.ToString());
    }

    [Fact]
    public void FillingWritesOnlyTheBandsAndAtMostThreePaddingBytesOfTheUsableTail()
    {
        var s = Rent(4097);
        try
        {
            // 64 words before; after: from block offset 4352 (word floor of 4353) to 4612.
            Assert.Equal(64 + (4612 - 4352) / 4, _memory.WordsFilled);
            // Usable bytes below the word floor are untouched (still the allocator's 0xEE).
            Assert.Equal(0xEE, Usable(s)[0]);
            Assert.Equal(0xEE, Usable(s)[4095]);
        }
        finally
        {
            s.Release();
        }
    }

    [Fact]
    public void PoolStatisticsCountTheBandsOfAGuardedStorage()
    {
        var s = Rent(1000);
        Assert.Equal(1512, _pool.Stats.RequestedInUseBytes);
        Assert.Equal(2048, _pool.Stats.InUseBytes);
        s.Release();
        Assert.Equal(0, _pool.Stats.RequestedInUseBytes);
    }
}
