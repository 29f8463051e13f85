using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// LayerNorm and RMSNorm (kernels/layernorm.cu, kernels/rmsnorm.cu).
public sealed partial class CudaBackend
{
    /// <inheritdoc />
    public void LayerNorm(Tensor x, Tensor? w, Tensor? b, double eps, Tensor y, Tensor mean, Tensor rstd)
    {
        int c = x.Dim(-1);
        int n = RowsOf(x, c);
        if (n == 0) return;
        var p = new KernelParams.LayerNormParams
        {
            X = Ptr(x), W = Ptr(w), B = Ptr(b), Y = Ptr(y), Mean = Ptr(mean), Rstd = Ptr(rstd),
            Rows = n, Cols = c, Eps = (float)eps,
        };
        Launch("layernorm.cu", $"layernorm_fwd_{Suffix(x.DType, OpKind.LayerNorm)}", WarpRows(n), p);
    }

    /// <inheritdoc />
    public void LayerNormBackward(Tensor x, Tensor? w, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw,
        Tensor? db)
    {
        string suffix = Suffix(x.DType, OpKind.LayerNorm);
        int c = x.Dim(-1);
        int n = RowsOf(x, c);
        if (n > 0)
        {
            var p = new KernelParams.LayerNormBwdParams
            {
                Dy = Ptr(dy), X = Ptr(x), W = Ptr(w), Mean = Ptr(mean), Rstd = Ptr(rstd), Dx = Ptr(dx),
                Rows = n, Cols = c,
            };
            Kernel("layernorm.cu", $"layernorm_bwd_dx_{suffix}").Launch(_stream, WarpRows(n), Block, 0, p);
        }

        ParameterGradients(suffix, x, mean, rstd, dy, n, c, dw, db);
    }

    /// <inheritdoc />
    public void RmsNorm(Tensor x, Tensor? w, double eps, Tensor y, Tensor rstd)
    {
        int c = x.Dim(-1);
        int n = RowsOf(x, c);
        if (n == 0) return;
        var p = new KernelParams.RmsNormParams
        {
            X = Ptr(x), W = Ptr(w), Y = Ptr(y), Rstd = Ptr(rstd), Rows = n, Cols = c, Eps = (float)eps,
        };
        Launch("rmsnorm.cu", $"rmsnorm_fwd_{Suffix(x.DType, OpKind.RmsNorm)}", WarpRows(n), p);
    }

    /// <inheritdoc />
    public void RmsNormBackward(Tensor x, Tensor? w, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw)
    {
        string suffix = Suffix(x.DType, OpKind.RmsNorm);
        int c = x.Dim(-1);
        int n = RowsOf(x, c);
        if (n > 0)
        {
            // LayerNorm's input gradient without a mean is RMSNorm's (layernorm.cu says so in its header).
            var p = new KernelParams.LayerNormBwdParams
            {
                Dy = Ptr(dy), X = Ptr(x), W = Ptr(w), Rstd = Ptr(rstd), Dx = Ptr(dx), Rows = n, Cols = c,
            };
            Launch("layernorm.cu", $"layernorm_bwd_dx_{suffix}", WarpRows(n), p);
        }

        // dw = Σrows dy·x·rstd: LayerNorm's column sums with mean 0.
        ParameterGradients(suffix, x, null, rstd, dy, n, c, dw, null);
    }

    private static int RowsOf(Tensor x, int c) => checked((int)(x.Numel / Math.Max(c, 1)));

    // Column sums of dy·x̂ and dy in row chunks (one block column per chunk), then a fixed-order sum of the chunks.
    private void ParameterGradients(string suffix, Tensor x, Tensor? mean, Tensor rstd, Tensor dy, int n, int c,
        Tensor? dw, Tensor? db)
    {
        if (dw is null && db is null) return;
        if (n == 0)
        {
            if (dw is not null) Fill(dw, 0);
            if (db is not null) Fill(db, 0);
            return;
        }

        int chunks = Math.Clamp((n + 63) / 64, 1, 1024);
        int rowsPerChunk = (n + chunks - 1) / chunks;
        chunks = (n + rowsPerChunk - 1) / rowsPerChunk;
        using DeviceBuffer<float> partial = Scratch<float>(2L * chunks * c);
        var p = new KernelParams.LayerNormWbParams
        {
            Dy = Ptr(dy), X = Ptr(x), Mean = Ptr(mean), Rstd = Ptr(rstd), Partial = partial.Pointer,
            Dw = Ptr(dw), Db = Ptr(db), Rows = n, Cols = c, Chunks = chunks, RowsPerChunk = rowsPerChunk,
        };
        Launch("layernorm.cu", $"layernorm_bwd_wb_{suffix}", new Dim3(Dim3.CeilDiv(c, Block), (uint)chunks), p);
        Kernel("layernorm.cu", $"layernorm_bwd_wb_reduce_{suffix}").Launch(_stream, Grid(c), Block, 0, p);
    }
}
