using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Embedding, index_select and gather with their scatter-add gradients (kernels/embedding.cu, kernels/indexing.cu).
// The scatter-adds accumulate with f32 atomics: straight into an f32 gradient, or into f32 scratch that is then cast
// to a bf16 gradient.
public sealed partial class CudaBackend
{
    /// <inheritdoc />
    public void Embedding(Tensor table, Tensor ids, Tensor y)
    {
        var p = EmbeddingArgs(ids, table.Dim(0), table.Dim(1));
        if ((long)p.N * p.Cols == 0) return;
        p.Table = Ptr(table);
        p.Y = Ptr(y);

        // The kernel takes 4 elements per thread exactly when this holds (embedding.cu, vec4_ok).
        ulong vector = 4UL * (ulong)table.ElementSize;
        bool vec = p.Cols % 4 == 0 && p.Table % vector == 0 && p.Y % vector == 0;
        long threads = vec ? (long)p.N * p.Cols / 4 : (long)p.N * p.Cols;
        Kernel("embedding.cu", $"embedding_fwd_{Suffix(table.DType, OpKind.Embedding)}").Launch(_stream, Grid(threads),
            Block, 0, p);
    }

    /// <inheritdoc />
    public void EmbeddingBackward(Tensor ids, Tensor dy, Tensor dtable)
    {
        string suffix = Suffix(dy.DType, OpKind.Embedding);
        var p = EmbeddingArgs(ids, dtable.Dim(0), dtable.Dim(1));
        p.Dy = Ptr(dy);
        ScatterInto(dtable, acc =>
        {
            p.Dtable = acc;
            if ((long)p.N * p.Cols > 0)
                Launch("embedding.cu", $"embedding_bwd_{suffix}", Grid((long)p.N * p.Cols), p);
        });
    }

    private static KernelParams.EmbeddingParams EmbeddingArgs(Tensor ids, int vocab, int cols) => new()
    {
        Ids = Ptr(ids), N = checked((int)ids.Numel), Vocab = vocab, Cols = cols, Ids64 = Index64(ids, OpKind.Embedding),
    };

    /// <inheritdoc />
    public void IndexSelect(Tensor x, Tensor ids, int outer, int n, int inner, Tensor y) =>
        Index("index_select_fwd", x.DType, OpKind.IndexSelect, x, ids, null, outer, n, checked((int)ids.Numel), inner,
            y);

    /// <inheritdoc />
    public void IndexAdd(Tensor dy, Tensor ids, int outer, int n, int inner, Tensor dx) =>
        ScatterInto(dx, acc => Index("index_select_bwd", dy.DType, OpKind.IndexSelect, dy, ids, acc, outer, n,
            checked((int)ids.Numel), inner, null));

    /// <inheritdoc />
    public void Gather(Tensor x, Tensor index, int outer, int n, int m, int inner, Tensor y) =>
        Index("gather_fwd", x.DType, OpKind.Gather, x, index, null, outer, n, m, inner, y);

    /// <inheritdoc />
    public void ScatterAdd(Tensor dy, Tensor index, int outer, int n, int m, int inner, Tensor dx) =>
        ScatterInto(dx, acc => Index("gather_bwd", dy.DType, OpKind.Gather, dy, index, acc, outer, n, m, inner, null));

    private void Index(string kernel, DType dtype, OpKind op, Tensor src, Tensor index, ulong? acc, int outer, int n,
        int m, int inner, Tensor? y)
    {
        long total = (long)outer * m * inner;
        if (total == 0) return;
        var p = new KernelParams.IndexParams
        {
            Src = Ptr(src), Index = Ptr(index), Y = Ptr(y), Acc = acc ?? 0,
            Outer = outer, N = n, M = m, Inner = inner, Index64 = Index64(index, op),
        };
        Kernel("indexing.cu", $"{kernel}_{Suffix(dtype, op)}").Launch(_stream, Grid(total), Block, 0, p);
    }

    private static int Index64(Tensor ids, OpKind op) => ids.DType switch
    {
        DType.I64 => 1,
        DType.I32 => 0,
        _ => throw new DTypeMismatchException(op.ToString(), ids.DType, DType.I64, "indices must be I32 or I64"),
    };

    /// <summary>
    /// Zeroes <paramref name="dst"/> and lets <paramref name="scatter"/> add into it through f32 atomics: directly
    /// for an f32 destination, through f32 scratch and a final cast otherwise.
    /// </summary>
    private void ScatterInto(Tensor dst, Action<ulong> scatter)
    {
        long bytes = dst.Numel * dst.ElementSize;
        if (dst.DType == DType.F32)
        {
            Zero(Ptr(dst), bytes);
            scatter(Ptr(dst));
            return;
        }

        using DeviceBuffer<float> acc = Scratch<float>(dst.Numel);
        Zero(acc.Pointer, dst.Numel * sizeof(float));
        scatter(acc.Pointer);
        CastFromF32(acc.Pointer, dst);
    }

    /// <summary>dst (contiguous, bf16 or f16) = cast of <paramref name="src"/> (f32, dst.Numel elements).</summary>
    private void CastFromF32(ulong src, Tensor dst)
    {
        string name = dst.DType switch
        {
            DType.BF16 => "cast_fwd_f32_to_bf16",
            DType.F16 => "cast_fwd_f32_to_f16",
            _ => throw new NotSupportedOnBackendException("cuda", OpKind.Cast, dst.DType,
                "f32 scratch casts to bf16 or f16"),
        };
        Kernel("cast.cu", name).Launch(_stream, GridStride(dst.Numel, 4), Block, 0,
            new KernelArgs().Add(src).Add(Ptr(dst)).Add(dst.Numel));
    }
}
