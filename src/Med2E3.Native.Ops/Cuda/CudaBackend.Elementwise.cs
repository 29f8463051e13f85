using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Pointwise functions, broadcasting binary ops, α·x + β, axis sums, gated SiLU and softmax.
public sealed partial class CudaBackend
{
    private static string UnaryName(UnaryOp op) => op switch
    {
        UnaryOp.Neg => "neg",
        UnaryOp.Exp => "exp",
        UnaryOp.Log => "log",
        UnaryOp.Sqrt => "sqrt",
        UnaryOp.Relu => "relu",
        UnaryOp.Tanh => "tanh",
        UnaryOp.Sigmoid => "sigmoid",
        UnaryOp.Gelu => "gelu",
        UnaryOp.GeluTanh => "gelu_tanh",
        _ => "silu",
    };

    /// <inheritdoc />
    public void Unary(UnaryOp op, Tensor x, Tensor y)
    {
        string name = $"{UnaryName(op)}_fwd_{Suffix(x.DType, Elementwise.KindOf(op))}";
        Kernel("activations.cu", name).Launch(_stream, GridStride(x.Numel, 4), Block, 0,
            new KernelArgs().Add(Ptr(x)).Add(Ptr(y)).Add(x.Numel));
    }

    /// <inheritdoc />
    public void UnaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx)
    {
        string name = $"{UnaryName(op)}_bwd_{Suffix(x.DType, Elementwise.KindOf(op))}";
        Kernel("activations.cu", name).Launch(_stream, GridStride(x.Numel, 4), Block, 0,
            new KernelArgs().Add(Ptr(x)).Add(Ptr(dy)).Add(Ptr(dx)).Add(x.Numel));
    }

    /// <inheritdoc />
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        string suffix = Suffix(y.DType, Elementwise.KindOf(op));
        if (y.Numel == 0) return;
        if (!y.IsContiguous)
        {
            // As on the CPU: a strided destination (it may alias a or b) gets the result through a temporary.
            using var tmp = Tensor.Empty(y.Shape, y.DType, y.Device);
            Binary(op, a, b, tmp);
            Copy(tmp, y);
            return;
        }

        if (a.IsContiguous && b.IsContiguous && Shapes.Equal(a.ShapeSpan, y.ShapeSpan)
            && Shapes.Equal(b.ShapeSpan, y.ShapeSpan))
        {
            // No broadcast: elementwise.cu's flat kernels (add_fwd_f32_v2 moves float4s).
            string name = op switch
            {
                BinaryOp.Add => suffix == "f32" ? "add_fwd_f32_v2" : "add_fwd_bf16",
                BinaryOp.Sub => $"sub_fwd_{suffix}",
                BinaryOp.Mul => $"mul_fwd_{suffix}",
                _ => $"div_fwd_{suffix}",
            };
            Launch("elementwise.cu", name, GridStride(y.Numel, 4),
                new KernelArgs().Add(Ptr(a)).Add(Ptr(b)).Add(Ptr(y)).Add(y.Numel));
            return;
        }

        var p = Strided(y.ShapeSpan, "Binary");
        p.A = Ptr(a);
        p.B = Ptr(b);
        p.Y = Ptr(y);
        p.Op = (int)op;
        SetStrides(ref p, a.StridesSpan, b.StridesSpan, y.StridesSpan);
        Kernel("strided.cu", $"binary_fwd_{suffix}").Launch(_stream, GridStride(p.N, 1), Block, 0, p);
    }

    /// <inheritdoc />
    public void Scale(Tensor x, double alpha, double beta, Tensor y) =>
        Launch("elementwise.cu", $"scale_fwd_{Suffix(x.DType, OpKind.Scale)}", GridStride(x.Numel, 1),
            new KernelArgs().Add(Ptr(x)).Add(Ptr(y)).Add((float)alpha).Add((float)beta).Add(x.Numel));

    /// <inheritdoc />
    public void Reduce(ReduceOp op, Tensor x, int outer, int r, int inner, Tensor y)
    {
        OpKind kind = op == ReduceOp.Sum ? OpKind.Sum : OpKind.Mean;
        string suffix = Suffix(x.DType, kind);
        if ((long)outer * inner == 0) return;
        if (inner == 1)
        {
            // A sum along the last axis: reduce.cu's block-per-row kernels (sum_fwd_f32_v2 is its default variant).
            string sum = suffix == "f32" ? "sum_fwd_f32_v2" : "sum_fwd_bf16";
            string name = op == ReduceOp.Mean ? $"mean_fwd_{suffix}" : sum;
            Kernel("reduce.cu", name).Launch(_stream, (uint)outer, Block, 0,
                new KernelArgs().Add(Ptr(x)).Add(Ptr(y)).Add((long)outer).Add(r));
            return;
        }

        Kernel("strided.cu", $"reduce_cols_fwd_{suffix}").Launch(_stream, Grid((long)outer * inner), Block, 0,
            new KernelArgs().Add(Ptr(x)).Add(Ptr(y)).Add(outer).Add(r).Add(inner).Add(op == ReduceOp.Mean ? 1 : 0));
    }

    /// <inheritdoc />
    public void GatedSilu(Tensor gu, Tensor a)
    {
        int f = a.Dim(-1), rows = (int)(a.Numel / Math.Max(f, 1));
        Kernel("activations.cu", $"gated_silu_fwd_{Suffix(gu.DType, OpKind.GatedSilu)}").Launch(_stream,
            GridStride(a.Numel, 1), Block, 0, new KernelArgs().Add(Ptr(gu)).Add(Ptr(a)).Add(rows).Add(f));
    }

    /// <inheritdoc />
    public void GatedSiluBackward(Tensor gu, Tensor da, Tensor dgu)
    {
        int f = da.Dim(-1), rows = (int)(da.Numel / Math.Max(f, 1));
        Kernel("activations.cu", $"gated_silu_bwd_{Suffix(gu.DType, OpKind.GatedSilu)}").Launch(_stream,
            GridStride(da.Numel, 1), Block, 0,
            new KernelArgs().Add(Ptr(gu)).Add(Ptr(da)).Add(Ptr(dgu)).Add(rows).Add(f));
    }

    /// <inheritdoc />
    public void Softmax(Tensor x, Tensor? keyMask, bool causal, int batch, int tq, Tensor y)
    {
        int tk = x.Dim(-1);
        long rows = x.Numel / Math.Max(tk, 1);
        if (rows == 0) return;
        var p = new KernelParams.SoftmaxParams
        {
            X = Ptr(x), Y = Ptr(y), Mask = Ptr(keyMask), Rows = checked((int)rows), Cols = tk, Tq = Math.Max(tq, 1),
            PerBatch = checked((int)(rows / Math.Max(batch, 1))), Scale = 1f, Causal = causal ? 1 : 0,
        };
        Launch("softmax.cu", $"softmax_fwd_{Suffix(x.DType, OpKind.Softmax)}", WarpRows(rows), p);
    }

    /// <inheritdoc />
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx)
    {
        int tk = y.Dim(-1);
        long rows = y.Numel / Math.Max(tk, 1);
        if (rows == 0) return;
        var p = new KernelParams.SoftmaxParams
        {
            X = Ptr(y), Dy = Ptr(dy), Y = Ptr(dx), Rows = checked((int)rows), Cols = tk, Tq = 1,
            PerBatch = checked((int)rows), Scale = 1f,
        };
        Launch("softmax.cu", $"softmax_bwd_{Suffix(y.DType, OpKind.Softmax)}", WarpRows(rows), p);
    }
}
