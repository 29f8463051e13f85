using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Direct 3D convolution and 3D average pooling (kernels/conv3d.cu, kernels/pool.cu).
public sealed partial class CudaBackend
{
    private const int ConvMaxKernelVolume = 512;  // CONV_WS_FLOATS / CONV_COB
    private const int ConvChannelsPerThread = 16; // CONV_COB
    private const int ConvBlock = 128;            // CONV_THREADS

    /// <inheritdoc />
    public void Conv3d(Tensor x, Tensor w, Tensor? bias, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding, Tensor y)
    {
        var p = ConvArgs(x, w, y, stride, padding);
        p.Bias = Ptr(bias);
        long positions = (long)p.Od * p.Oh * p.Ow;
        if (positions == 0 || p.N == 0 || p.Co == 0) return;
        var grid = new Dim3(Dim3.CeilDiv(positions, ConvBlock), Dim3.CeilDiv(p.Co, ConvChannelsPerThread), (uint)p.N);
        Kernel("conv3d.cu", $"conv3d_fwd_{Suffix(x.DType, OpKind.Conv3d)}").Launch(_stream, grid, ConvBlock, 0, p);
    }

    /// <inheritdoc />
    public void Conv3dBackward(Tensor x, Tensor w, Tensor dy, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding,
        Tensor? dx, Tensor? dw, Tensor? db)
    {
        string suffix = Suffix(x.DType, OpKind.Conv3d);
        var p = ConvArgs(x, w, dy, stride, padding);
        p.Dy = Ptr(dy);
        p.Dx = Ptr(dx);
        p.Dw = Ptr(dw);
        p.Db = Ptr(db);
        if (dx is not null && dx.Numel > 0)
            Kernel("conv3d.cu", $"conv3d_bwd_data_{suffix}").Launch(_stream, Grid(dx.Numel), Block, 0, p);
        if (dw is not null && dw.Numel > 0)
            Kernel("conv3d.cu", $"conv3d_bwd_weight_{suffix}").Launch(_stream, (uint)dw.Numel, Block, 0, p);
        if (db is not null && db.Numel > 0)
            Kernel("conv3d.cu", $"conv3d_bwd_bias_{suffix}").Launch(_stream, (uint)db.Numel, Block, 0, p);
    }

    private static KernelParams.Conv3dParams ConvArgs(Tensor x, Tensor w, Tensor y, ReadOnlySpan<int> stride,
        ReadOnlySpan<int> padding)
    {
        int kvol = w.Dim(2) * w.Dim(3) * w.Dim(4);
        if (kvol > ConvMaxKernelVolume)
            throw new NotSupportedOnBackendException("cuda", OpKind.Conv3d, x.DType,
                $"kernel volume {kvol} exceeds the {ConvMaxKernelVolume} of kernels/conv3d.cu (use a patch GEMM)");
        return new KernelParams.Conv3dParams
        {
            X = Ptr(x), W = Ptr(w), Y = Ptr(y),
            N = x.Dim(0), Ci = x.Dim(1), D = x.Dim(2), H = x.Dim(3), W_ = x.Dim(4),
            Co = w.Dim(0), Kd = w.Dim(2), Kh = w.Dim(3), Kw = w.Dim(4),
            Od = y.Dim(2), Oh = y.Dim(3), Ow = y.Dim(4),
            Sd = stride[0], Sh = stride[1], Sw = stride[2], Pd = padding[0], Ph = padding[1], Pw = padding[2],
        };
    }

    /// <inheritdoc />
    public void AvgPool3d(Tensor x, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor y)
    {
        if (y.Numel == 0) return;
        var p = PoolArgs(x, y, kernel, stride);
        p.Src = Ptr(x);
        p.Dst = Ptr(y);
        Launch("pool.cu", $"avgpool3d_fwd_{Suffix(x.DType, OpKind.AvgPool3d)}", Grid(y.Numel), p);
    }

    /// <inheritdoc />
    public void AvgPool3dBackward(Tensor dy, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor dx)
    {
        if (dx.Numel == 0) return;
        var p = PoolArgs(dx, dy, kernel, stride);
        p.Src = Ptr(dy);
        p.Dst = Ptr(dx);
        Launch("pool.cu", $"avgpool3d_bwd_{Suffix(dy.DType, OpKind.AvgPool3d)}", Grid(dx.Numel), p);
    }

    private static unsafe KernelParams.AvgPool3dParams PoolArgs(Tensor x, Tensor y, ReadOnlySpan<int> kernel,
        ReadOnlySpan<int> stride)
    {
        var p = new KernelParams.AvgPool3dParams
        {
            Batch = x.Dim(0), Channels = x.Dim(1), D = x.Dim(2), H = x.Dim(3), W = x.Dim(4),
            Od = y.Dim(2), Oh = y.Dim(3), Ow = y.Dim(4),
            Kd = kernel[0], Kh = kernel[1], Kw = kernel[2], Sd = stride[0], Sh = stride[1], Sw = stride[2],
        };
        for (int d = 0; d < 5; d++)
        {
            p.Xs[d] = x.StridesSpan[d];
            p.Ys[d] = y.StridesSpan[d];
        }

        return p;
    }
}
