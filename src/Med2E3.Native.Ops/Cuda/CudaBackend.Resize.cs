using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Crop + trilinear resize of volumes (kernels/resize.cu).
public sealed partial class CudaBackend
{
    /// <inheritdoc />
    public void ResizeTrilinear3d(Tensor x, ReadOnlySpan<int> crop, Tensor y)
    {
        if (y.Numel == 0) return;
        var p = new KernelParams.ResizeParams
        {
            X = Ptr(x), Y = Ptr(y),
            N = x.Dim(0) * x.Dim(1), D = x.Dim(2), H = x.Dim(3), W = x.Dim(4),
            Z0 = crop[0], Y0 = crop[2], X0 = crop[4],
            Cd = crop[1] - crop[0], Ch = crop[3] - crop[2], Cw = crop[5] - crop[4],
            Od = y.Dim(2), Oh = y.Dim(3), Ow = y.Dim(4),
        };
        Launch("resize.cu", $"resize_trilinear3d_fwd_{Suffix(x.DType, OpKind.ResizeTrilinear3d)}", Grid(y.Numel), p);
    }
}
