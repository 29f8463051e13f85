using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Embedding, index_select, gather (with their scatter-add gradients), cross-entropy, argmax and top-k
/// (kernels/embedding.cu, indexing.cu, cross_entropy.cu, sampling.cu) against the CPU references.
/// </summary>
public class IndexingAndLossConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, DType> DtypeAndIndex() => new()
    {
        { DType.F32, DType.I64 }, { DType.F32, DType.I32 }, { DType.BF16, DType.I64 },
    };

    [CudaTheory]
    [MemberData(nameof(DtypeAndIndex))]
    public void EmbeddingForwardAndBackward(DType dtype, DType index)
    {
        const int v = 1001, c = 96, n = 75;
        using var table = Input(40, v, c);
        using var ids = Tensor.RandInt(41, [n], 0, v, index);  // repeats are likely: the backward must add them up
        using var dy = Input(42, n, c);
        Verify(fixture, "Embedding", dtype, [table, ids], [new([n, c], Tol: Check.Exact)],
            (be, i, o) => be.Embedding(i[0], i[1], o[0]));
        Verify(fixture, "EmbeddingBackward", dtype, [ids, dy], [new([v, c])],
            (be, i, o) => be.EmbeddingBackward(i[0], i[1], o[0]));
    }

    [CudaTheory]
    [MemberData(nameof(DtypeAndIndex))]
    public void IndexSelectAndIndexAdd(DType dtype, DType index)
    {
        const int outer = 3, n = 40, inner = 33, m = 57;
        using var x = Input(43, outer, n, inner);
        using var ids = Tensor.RandInt(44, [m], 0, n, index);
        using var dy = Input(45, outer, m, inner);
        Verify(fixture, "IndexSelect", dtype, [x, ids], [new([outer, m, inner], Tol: Check.Exact)],
            (be, i, o) => be.IndexSelect(i[0], i[1], outer, n, inner, o[0]));
        Verify(fixture, "IndexAdd", dtype, [dy, ids], [new([outer, n, inner])],
            (be, i, o) => be.IndexAdd(i[0], i[1], outer, n, inner, o[0]));
    }

    [CudaTheory]
    [MemberData(nameof(DtypeAndIndex))]
    public void GatherAndScatterAdd(DType dtype, DType index)
    {
        const int outer = 4, n = 21, m = 13, inner = 6;
        using var x = Input(46, outer, n, inner);
        using var idx = Tensor.RandInt(47, [outer, m, inner], 0, n, index);
        using var dy = Input(48, outer, m, inner);
        Verify(fixture, "Gather", dtype, [x, idx], [new([outer, m, inner], Tol: Check.Exact)],
            (be, i, o) => be.Gather(i[0], i[1], outer, n, m, inner, o[0]));
        Verify(fixture, "ScatterAdd", dtype, [dy, idx], [new([outer, n, inner])],
            (be, i, o) => be.ScatterAdd(i[0], i[1], outer, n, m, inner, o[0]));
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void CrossEntropyWithIgnoredTargets(DType dtype)
    {
        const int n = 19, v = 32064;
        using var logits = Tensor.Rand(49, [n, v], -8, 8, DType.F64);
        var t = new double[n];
        var rng = new SeededRandom(50);
        for (int i = 0; i < n; i++) t[i] = i % 4 == 1 ? -100 : rng.NextLong(0, v);
        using var targets = Tensor.FromDoubles(t, [n], DType.I64);
        using var dLoss = Tensor.Rand(51, [n], 0.1, 1, DType.F64);
        Verify(fixture, "CrossEntropy", dtype, [logits, targets], [new([n], OutKind.Stat), new([n], OutKind.Stat)],
            (be, i, o) => be.CrossEntropy(i[0], i[1], -100, o[0], o[1]));
        Verify(fixture, "CrossEntropyBackward", dtype, [logits, targets, dLoss], [new([n, v])], (be, i, o) =>
        {
            using var losses = Tensor.Empty([n], NormAndSoftmaxConformanceTests.Stat(i[0]), i[0].Device);
            using var lse = Tensor.Empty([n], NormAndSoftmaxConformanceTests.Stat(i[0]), i[0].Device);
            using var dl = i[2].To(NormAndSoftmaxConformanceTests.Stat(i[0]));
            be.CrossEntropy(i[0], i[1], -100, losses, lse);
            be.CrossEntropyBackward(i[0], i[1], -100, lse, dl, o[0]);
        });
    }

    [CudaTheory]
    [InlineData(DType.F32, 1)]
    [InlineData(DType.F32, 50)]
    [InlineData(DType.F32, 1024)]
    [InlineData(DType.BF16, 40)]
    public void ArgmaxAndTopKWithTies(DType dtype, int k)
    {
        // Values on a coarse grid (multiples of 1/8 in [−4, 4)) so ties are common and the lower-index rule matters.
        const int n = 3, v = 32064;
        var x = new double[n * v];
        var rng = new SeededRandom(52);
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextLong(-32, 32) / 8.0;
        x[5] = double.NaN;  // row 0: NaN is the argmax (torch), and sorts last in top-k (CompareTo)
        x[v + 7] = -0.0;
        using var t = Tensor.FromDoubles(x, [n, v], DType.F64);
        Verify(fixture, "Argmax", dtype, [t], [new([n], OutKind.I64, Check.Exact)],
            (be, i, o) => be.Argmax(i[0], o[0]));
        Verify(fixture, "TopK", dtype, [t],
            [new([n, k], Tol: Check.Exact), new([n, k], OutKind.I64, Check.Exact)],
            (be, i, o) => be.TopK(i[0], k, o[0], o[1]));
    }
}
