using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Products through cuBLAS (true f32 math, no TF32; bf16 with f32 accumulation).
public sealed partial class CudaBackend
{
    /// <inheritdoc />
    public void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor? bias, double alpha, double beta)
    {
        GemmDataType type = a.DType switch
        {
            DType.F32 => GemmDataType.F32,
            DType.BF16 => GemmDataType.BF16,
            _ => throw new NotSupportedOnBackendException("cuda", OpKind.MatMul, a.DType,
                "cuBLAS paths exist for f32 and bf16"),
        };
        int m = transA ? a.Dim(-1) : a.Dim(-2);
        int k = transA ? a.Dim(-2) : a.Dim(-1);
        int n = transB ? b.Dim(-2) : b.Dim(-1);
        long mn = (long)m * n;
        if (mn == 0) return;
        int batch = checked((int)(c.Numel / mn));
        long ba = a.Numel / Math.Max(1L * m * k, 1), bb = b.Numel / Math.Max(1L * k * n, 1);
        if (k == 0)
        {
            // An empty sum: c = beta·c (+ bias below).
            if (beta == 0) Fill(c, 0);
            else Scale(c, beta, 0, c);
        }
        else if (bias is not null && alpha == 1 && beta == 0 && batch == 1 && !transA && transB)
        {
            // A linear layer: cuBLASLt adds the bias in its epilogue, which saves a pass over c.
            _device.Cublas.LinearEpilogue(_stream, type, Ptr(a), Ptr(b), Ptr(bias), Ptr(c), m, n, k, GemmEpilogue.Bias);
            return;
        }
        else
        {
            int lda = transA ? m : k, ldb = transB ? k : n;
            if (batch == 1)
            {
                _device.Cublas.Gemm(_stream, type, transA, transB, m, n, k, (float)alpha, Ptr(a), lda, Ptr(b), ldb,
                    (float)beta, Ptr(c), n);
            }
            else
            {
                _device.Cublas.GemmStridedBatched(_stream, type, transA, transB, m, n, k, (float)alpha,
                    Ptr(a), lda, ba == 1 ? 0 : (long)m * k, Ptr(b), ldb, bb == 1 ? 0 : (long)k * n,
                    (float)beta, Ptr(c), n, mn, batch);
            }
        }

        if (bias is not null) AddRowBias(c, bias, batch * (long)m, n);
    }

    // c (rows, n) += bias (n), in place: each element is read and written by the same thread.
    private unsafe void AddRowBias(Tensor c, Tensor bias, long rows, int n)
    {
        var p = new KernelParams.StridedParams
        {
            A = Ptr(c), B = Ptr(bias), Y = Ptr(c), Rank = 2, Op = (int)BinaryOp.Add, N = rows * n,
        };
        p.Shape[0] = checked((int)rows);
        p.Shape[1] = n;
        p.Sa[0] = n;
        p.Sa[1] = 1;
        p.Sb[0] = 0;
        p.Sb[1] = 1;
        p.Sy[0] = n;
        p.Sy[1] = 1;
        Launch("strided.cu", $"binary_fwd_{Suffix(c.DType, OpKind.MatMul)}", GridStride(p.N, 1), p);
    }
}
