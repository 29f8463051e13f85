namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>The CPU oracle itself, checked against known values; runs without a GPU.</summary>
public class CpuReferenceTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(-1.5, -0.9661051464753108)]
    public void ErfMatchesTabulatedValues(double x, double erf) =>
        Assert.Equal(erf, CpuReference.Erf(x), 1e-13);

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
    public void GeluAndSiluMatchTheirDefinitions()
    {
        Assert.Equal(0.8413447460685429, CpuReference.Gelu(1f), 1e-6);
        Assert.Equal(-0.15865525393145707, CpuReference.Gelu(-1f), 1e-6);
        Assert.Equal(0.7310585786300049, CpuReference.Silu(1f), 1e-6);
        // d/dx gelu at 0 is 1/2; silu'(0) = 1/2.
        Assert.Equal(0.5, CpuReference.GeluGrad(0f), 1e-7);
        Assert.Equal(0.5, CpuReference.SiluGrad(0f), 1e-7);
        double h = 1e-3;
        double numeric = (CpuReference.GeluExact(0.7 + h) - CpuReference.GeluExact(0.7 - h)) / (2 * h);
        Assert.Equal(numeric, CpuReference.GeluGrad(0.7f), 1e-5);
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
