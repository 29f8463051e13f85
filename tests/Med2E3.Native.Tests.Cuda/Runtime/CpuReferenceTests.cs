namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>The CPU oracle itself, checked against known values; runs without a GPU.</summary>
public class CpuReferenceTests
{
    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(-2.0f, (ushort)0xC000)]
    [InlineData(1.00390625f, (ushort)0x3F80)] // exactly halfway between 1 and 1 + 2^-7: ties to even (down)
    [InlineData(1.01171875f, (ushort)0x3F82)] // halfway between 0x3F81 and 0x3F82: ties to even (up)
    [InlineData(3.0e38f, (ushort)0x7F62)]
    public void Bf16RoundsToNearestEven(float value, ushort bits) => Assert.Equal(bits, CpuReference.ToBf16(value));

    [Fact]
    public void Bf16KeepsNaNQuietAndOverflowsToInfinity()
    {
        Assert.True(float.IsNaN(CpuReference.FromBf16(CpuReference.ToBf16(float.NaN))));
        Assert.Equal(float.PositiveInfinity, CpuReference.FromBf16(CpuReference.ToBf16(float.MaxValue)));
    }

    [Fact]
    public void ReductionsAndOraclesAgreeOnSmallInputs()
    {
        float[] x = [1, 2, 3, 4, 5, 6];
        Assert.Equal([6f, 15f], CpuReference.Sum(x, 2, 3));
        Assert.Equal([2f, 5f], CpuReference.Mean(x, 2, 3));
        Assert.Equal([6.0, 15.0], CpuReference.SumExact(x, 2, 3));
        Assert.Equal(0.0, CpuReference.Nmse([1.0, 2.0], [1f, 2f]));
        Assert.Equal(0.5, CpuReference.MaxError([1f, 2.5f], [1.0, 2.0]));
    }

    [Fact]
    public void GemmHandlesTranspositions()
    {
        float[] a = [1, 2, 3, 4, 5, 6]; // (2, 3)
        float[] b = [1, 0, 0, 1, 1, 1]; // (3, 2)
        Assert.Equal([4.0, 5.0, 10.0, 11.0], CpuReference.GemmExact(a, b, 2, 2, 3, false, false));
        float[] at = [1, 4, 2, 5, 3, 6]; // Aᵀ stored (3, 2)
        float[] bt = [1, 0, 1, 0, 1, 1]; // Bᵀ stored (2, 3)
        Assert.Equal([4.0, 5.0, 10.0, 11.0], CpuReference.GemmExact(at, bt, 2, 2, 3, true, true));
    }
}
