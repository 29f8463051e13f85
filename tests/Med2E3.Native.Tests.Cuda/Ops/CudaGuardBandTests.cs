using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// The CUDA storage guard bands on the device: a storage rented while the hook is on sits between filled bands, an
/// in-bounds kernel leaves them intact, and a write one word past either end is caught with its side and offset.
/// </summary>
public class CudaGuardBandTests(TestDevice fixture)
{
    private Device Cuda => OpConformance.Backend(fixture).TensorDevice;

    [CudaFact]
    public void InBoundsFillLeavesTheBandsIntact()
    {
        CudaStorage.TakeGuardViolations();
        using (CudaStorage.EnableGuardBands())
        {
            using var t = Tensor.Full([1001], 3.0, DType.F32, Cuda);
            var s = Assert.IsType<CudaStorage>(t.Storage);
            Assert.True(s.IsGuarded);
            Assert.Equal(DType.F32, s.ElementType);
            Assert.Equal(0L, s.DevicePointer % CudaGuardBands.BandAlignment);
            Assert.All(t.ToDoubleArray(), v => Assert.Equal(3.0, v));
            Assert.Equal(0, CudaStorage.CheckGuardBands());
        }

        Assert.Empty(CudaStorage.TakeGuardViolations());
    }

    [CudaFact]
    public void AWordPastTheEndIsCaughtOnTheAfterSide()
    {
        CudaStorage.TakeGuardViolations();
        using (CudaStorage.EnableGuardBands())
        {
            using var t = Tensor.Zeros([10], DType.F32, Cuda);
            var s = (CudaStorage)t.Storage;
            fixture.Stream.Memset32((ulong)s.DevicePointer + 40, 0, 1);
            Assert.Equal(1, CudaStorage.CheckGuardBands());
        }

        var v = Assert.Single(CudaStorage.TakeGuardViolations());
        Assert.Equal(GuardSide.After, v.Side);
        Assert.Equal(40, v.Offset);
        Assert.Equal(DType.F32, v.DType);
    }

    [CudaFact]
    public void AWordBeforeTheStartIsCaughtWhenReleased()
    {
        CudaStorage.TakeGuardViolations();
        using (CudaStorage.EnableGuardBands())
        {
            var t = Tensor.Zeros([7], DType.BF16, Cuda);
            fixture.Stream.Memset32((ulong)((CudaStorage)t.Storage).DevicePointer - 4, 0, 1);
            t.Dispose();
        }

        var v = Assert.Single(CudaStorage.TakeGuardViolations());
        Assert.Equal(GuardSide.Before, v.Side);
        Assert.Equal(-4, v.Offset);
        Assert.Contains("bf16", v.ToString());
    }

    [CudaFact]
    public void WithTheHookOffStoragesAreRentedUnpadded()
    {
        Assert.Equal(0, CudaStorage.GuardBytes);
        using var t = Tensor.Zeros([1000], DType.F32, Cuda);
        var s = (CudaStorage)t.Storage;
        Assert.False(s.IsGuarded);
        Assert.NotNull(s.Buffer);
        Assert.Equal((ulong)s.DevicePointer, s.Buffer.Pointer);
        Assert.Equal(4000, s.Buffer.Bytes);
    }
}
