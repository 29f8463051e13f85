using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Tensors;

public class TensorDataTests
{
    [Fact]
    public void HalfPrecisionCastsRoundToNearestEven()
    {
        using var scope = TensorScope.Begin();
        float[] v = [1.0f, 1.00390625f, 1.01171875f, -3.1415927f, 65504f, 1e-8f];
        var bf = Tensor.FromFloats(v, [6], DType.BF16).ToFloatArray();
        var f16 = Tensor.FromFloats(v, [6], DType.F16).ToFloatArray();
        for (int i = 0; i < v.Length; i++)
        {
            Assert.Equal(Precision.RoundToBf16(v[i]), bf[i]);
            Assert.Equal((float)(Half)v[i], f16[i]);
        }
        Assert.Equal(1.0f, bf[1]);
        Assert.Equal(1.015625f, bf[2]);
    }

    [Fact]
    public void SeededFactoriesAreDeterministic()
    {
        using var scope = TensorScope.Begin();
        Assert.Equal(Tensor.Randn(42, [3, 5]).ToFloatArray(), Tensor.Randn(42, [3, 5]).ToFloatArray());
        Assert.NotEqual(Tensor.Randn(42, [3, 5]).ToFloatArray(), Tensor.Randn(43, [3, 5]).ToFloatArray());
        var ids = Tensor.RandInt(7, [100], 3, 9).ToLongArray();
        Assert.All(ids, i => Assert.InRange(i, 3, 8));
        var n = Tensor.Randn(1, [20000], DType.F64).ToDoubleArray();
        Assert.InRange(n.Average(), -0.05, 0.05);
        Assert.InRange(n.Select(x => x * x).Average(), 0.95, 1.05);
    }

    [Fact]
    public void FromStorageChecksTheExtentAndSharesMemory()
    {
        using var scope = TensorScope.Begin();
        var s = CpuStorage.Allocate(10 * sizeof(float));
        var a = Tensor.FromStorage(s, DType.F32, [2, 3]);
        var b = Tensor.FromStorage(s, DType.F32, [4], offset: 6);
        s.Release();
        a.Fill(1);
        b.Fill(2);
        Assert.Equal(new float[] { 1, 1, 1, 1, 1, 1 }, a.ToFloatArray());
        Assert.Throws<ShapeMismatchException>(() => Tensor.FromStorage(s, DType.F32, [4], offset: 7));
    }

    [Fact]
    public void ReshapeOfAViewableLayoutDoesNotCopy()
    {
        using var scope = TensorScope.Begin();
        var qkv = Tensor.Randn(3, [2, 5, 3 * 8]);
        var q = qkv.Narrow(-1, 8, 8);                   // (2, 5, 8), row stride 24
        var heads = q.Reshape(2, 5, 2, 4);              // splits the last axis: still a view
        Assert.Same(qkv.Storage, heads.Storage);
        Assert.Equal(q.ToFloatArray(), heads.ToFloatArray());
        var merged = q.Transpose(0, 1).Reshape(10, 8);  // cannot be viewed: copies
        Assert.NotSame(qkv.Storage, merged.Storage);
        Assert.Equal(q.Transpose(0, 1).ToFloatArray(), merged.ToFloatArray());
    }

    [Fact]
    public void ItemAndScalars()
    {
        using var scope = TensorScope.Begin();
        Assert.Equal(2.5f, Tensor.Scalar(2.5).Item<float>());
        Assert.Equal(7L, Tensor.FromArray(new long[] { 7 }, 1).Item<long>());
        Assert.Throws<ShapeMismatchException>(() => Tensor.Ones([2]).Item<float>());
        Assert.Throws<DTypeMismatchException>(() => Tensor.Ones([1]).Item<double>());
    }

    [Fact]
    public void DisposedTensorsThrowTyped()
    {
        var t = Tensor.Ones([2]);
        t.Dispose();
        t.Dispose();
        Assert.Throws<TensorDisposedException>(() => t.ToFloatArray());
    }
}
