using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Tensors;

public class TensorBasicsTests
{
    [Fact]
    public void ViewsShareStorageAndCopyRoundTrips()
    {
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);
            var t = x.Transpose(0, 2);                 // (4, 3, 2)
            Assert.False(t.IsContiguous);
            Assert.Equal(new[] { 4, 3, 2 }, t.Shape);
            var a = t.ToFloatArray();
            Assert.Equal(x.ToFloatArray()[1 * 12 + 2 * 4 + 3], a[3 * 6 + 2 * 2 + 1]);
            var n = x.Narrow(2, 1, 2);
            Assert.Equal(new float[] { 1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22 }, n.ToFloatArray());
            var r = n.Reshape(6, 2);
            Assert.Equal(n.ToFloatArray(), r.ToFloatArray());
            var e = Tensor.FromArray(new float[] { 1, 2, 3 }, 3).Expand(2, 3);
            Assert.Equal(new float[] { 1, 2, 3, 1, 2, 3 }, e.ToFloatArray());
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void Bf16RoundsToNearestEven()
    {
        Assert.Equal((ushort)0x3F80, Precision.FloatToBf16(1.0f));
        // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties to even keeps 1.
        Assert.Equal((ushort)0x3F80, Precision.FloatToBf16(1.00390625f));
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
        Assert.Equal((ushort)0x3F82, Precision.FloatToBf16(1.01171875f));
        Assert.True(float.IsNaN(Precision.Bf16ToFloat(Precision.FloatToBf16(float.NaN))));
    }

    [Fact]
    public void BackwardAccumulatesAcrossUses()
    {
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.FromArray(new double[] { 1, 2, 3 }, 3);
            x.RequiresGrad = true;
            var y = F.Mul(x, x);                       // x²
            var z = F.Add(y, x);                       // x² + x
            var s = F.Sum(z, 0);
            s.Backward();
            Assert.Equal(new double[] { 3, 5, 7 }, x.Grad!.ToDoubleArray());
            var s2 = F.Sum(F.Scale(x, 2), 0);
            s2.Backward();
            Assert.Equal(new double[] { 5, 7, 9 }, x.Grad!.ToDoubleArray());
        }
        Assert.Equal(0, leaks.Live);
    }
}
