using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Tensors;

public class AutogradTests
{
    private static Tensor Block(Tensor[] xs, Tensor w1, Tensor w2)
    {
        using var scope = TensorScope.Begin();
        var h = F.Gelu(F.Linear(xs[0], w1));                    // (N, 8)
        var y = F.LayerNorm(F.Add(xs[0], F.Linear(h, w2)), null, null, 1e-5);
        return scope.Keep(y);
    }

    [Fact]
    public void CheckpointGivesTheSameGradientsAsThePlainGraph()
    {
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.Randn(1, [5, 6], DType.F64);
            var w1 = Tensor.Randn(2, [8, 6], DType.F64);
            var w2 = Tensor.Randn(3, [6, 8], DType.F64);
            var r = Tensor.Randn(4, [5, 6], DType.F64);
            foreach (var t in new[] { x, w1, w2 }) t.RequiresGrad = true;

            F.Sum(F.Mul(Block([x], w1, w2), r).Reshape(-1), 0).Backward();
            var plain = new[] { x.Grad!.ToDoubleArray(), w1.Grad!.ToDoubleArray(), w2.Grad!.ToDoubleArray() };
            foreach (var t in new[] { x, w1, w2 }) t.ZeroGrad();

            var y = F.Checkpoint(xs => Block(xs, w1, w2), x);
            F.Sum(F.Mul(y, r).Reshape(-1), 0).Backward();
            var ck = new[] { x.Grad!.ToDoubleArray(), w1.Grad!.ToDoubleArray(), w2.Grad!.ToDoubleArray() };
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < plain[i].Length; j++) Assert.Equal(plain[i][j], ck[i][j], 12);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void GraphIsFreedAfterBackwardAndSecondBackwardThrows()
    {
        using var leaks = TensorStats.Track();
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.Randn(5, [3, 4]);
            x.RequiresGrad = true;
            var y = F.Sum(F.Tanh(x).Reshape(-1), 0);
            y.Backward();
            Assert.Throws<InvalidOperationException>(() => y.Backward());
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void DisposingOutputsWithoutBackwardReleasesSavedTensors()
    {
        using var leaks = TensorStats.Track();
        var w = Tensor.Randn(6, [4, 4]);
        w.RequiresGrad = true;
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.Randn(7, [2, 4]);
            for (int i = 0; i < 5; i++) x = F.Softmax(F.Linear(x, w));
        }
        w.Dispose();
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(8, [3]);
        x.RequiresGrad = true;
        using (new NoGradScope())
        {
            var y = F.Exp(x);
            Assert.False(y.RequiresGrad);
            Assert.Null(y.GradFn);
        }
        Assert.True(F.Exp(x).RequiresGrad);
    }

    [Fact]
    public void ScopeKeepMovesToParentAndDisposesTheRest()
    {
        using var leaks = TensorStats.Track();
        Tensor kept;
        using (var outer = TensorScope.Begin())
        {
            using (var inner = TensorScope.Begin())
            {
                var a = Tensor.Ones([2]);
                var b = F.Scale(a, 3);
                kept = inner.Keep(F.Add(a, b));
            }
            Assert.False(kept.IsDisposed);
            Assert.Equal(new float[] { 4, 4 }, kept.ToFloatArray());
        }
        Assert.True(kept.IsDisposed);
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void GradientsFlowThroughViewsAndCasts()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn(9, [2, 3, 4], DType.F64);
        x.RequiresGrad = true;
        var v = x.Permute(2, 0, 1).Narrow(0, 1, 2).Reshape(2, 6).To(DType.F32).Unsqueeze(0).Expand(3, 2, 6);
        F.Sum(v.Reshape(-1), 0).Backward();
        var g = x.Grad!.ToDoubleArray();
        for (int i = 0; i < 24; i++)
        {
            int k = i % 4;
            Assert.Equal(k is 1 or 2 ? 3.0 : 0.0, g[i]);
        }
    }

    [Fact]
    public void TypedErrorsNameTheOp()
    {
        using var scope = TensorScope.Begin();
        var a = Tensor.Randn(10, [2, 3]);
        var b = Tensor.Randn(11, [4, 5]);
        var e = Assert.Throws<ShapeMismatchException>(() => F.MatMul(a, b));
        Assert.Contains("MatMul", e.Message);
        Assert.Throws<ShapeMismatchException>(() => F.Add(a, b));
        Assert.Throws<DTypeMismatchException>(() => F.Add(a, a.To(DType.F64)));
        Assert.Throws<ShapeMismatchException>(() => F.Linear(a, b));
        Assert.Throws<ArgumentOutOfRangeException>(() => F.Embedding(a, Tensor.FromArray(new long[] { 5 }, 1)));
        Assert.Throws<NotSupportedOnBackendException>(() => a.To(Device.Cuda(0)));
    }

    [Fact]
    public void CopyFromWritesIntoAView()
    {
        using var scope = TensorScope.Begin();
        var cache = Tensor.Zeros([1, 2, 6, 3]);
        var kv = Tensor.Ones([1, 2, 2, 3]);
        cache.Narrow(2, 4, 2).CopyFrom(kv);
        var a = cache.ToFloatArray();
        Assert.Equal(12f, a.Sum());
        Assert.Equal(1f, a[4 * 3]);
        Assert.Equal(0f, a[3 * 3]);
    }
}
