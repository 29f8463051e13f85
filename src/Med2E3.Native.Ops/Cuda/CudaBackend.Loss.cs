using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Cross-entropy, argmax / top-k and the optimiser (kernels/cross_entropy.cu, kernels/sampling.cu, kernels/adamw.cu).
public sealed partial class CudaBackend
{
    private const int TopKMax = 1024;  // TOPK_MAX in sampling.cu

    /// <inheritdoc />
    public void CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex, Tensor losses, Tensor lse)
    {
        var p = CrossEntropyArgs(logits, targets, ignoreIndex);
        if (p.Rows == 0) return;
        p.Losses = Ptr(losses);
        p.Lse = Ptr(lse);
        Kernel("cross_entropy.cu", $"cross_entropy_fwd_{Suffix(logits.DType, OpKind.CrossEntropy)}").Launch(_stream,
            (uint)p.Rows, Block, 0, p);
    }

    /// <inheritdoc />
    public void CrossEntropyBackward(Tensor logits, Tensor targets, long ignoreIndex, Tensor lse, Tensor dLoss,
        Tensor dlogits)
    {
        var p = CrossEntropyArgs(logits, targets, ignoreIndex);
        if (p.Rows == 0) return;
        p.Lse = Ptr(lse);
        p.Dloss = Ptr(dLoss);
        p.Dlogits = Ptr(dlogits);
        Kernel("cross_entropy.cu", $"cross_entropy_bwd_{Suffix(logits.DType, OpKind.CrossEntropy)}").Launch(_stream,
            (uint)p.Rows, Block, 0, p);
    }

    private static KernelParams.CrossEntropyParams CrossEntropyArgs(Tensor logits, Tensor targets, long ignoreIndex)
    {
        int v = logits.Dim(-1);
        return new KernelParams.CrossEntropyParams
        {
            Logits = Ptr(logits), Targets = Ptr(targets), IgnoreIndex = ignoreIndex,
            Rows = checked((int)(logits.Numel / Math.Max(v, 1))), Vocab = v,
            Targets64 = Index64(targets, OpKind.CrossEntropy),
        };
    }

    /// <inheritdoc />
    public void Argmax(Tensor x, Tensor y)
    {
        int v = x.Dim(-1);
        int rows = checked((int)(x.Numel / Math.Max(v, 1)));
        if (rows == 0) return;
        var p = new KernelParams.TopKParams { X = Ptr(x), Indices = Ptr(y), Rows = rows, Cols = v };
        Kernel("sampling.cu", $"argmax_fwd_{Suffix(x.DType, OpKind.Argmax)}").Launch(_stream, (uint)rows, Block, 0, p);
    }

    /// <inheritdoc />
    public void TopK(Tensor x, int k, Tensor values, Tensor indices)
    {
        if (k > TopKMax)
            throw new NotSupportedOnBackendException("cuda", OpKind.TopK, x.DType,
                $"k = {k} exceeds the {TopKMax} of kernels/sampling.cu");
        int v = x.Dim(-1);
        int rows = checked((int)(x.Numel / Math.Max(v, 1)));
        if (rows == 0) return;
        var p = new KernelParams.TopKParams
        {
            X = Ptr(x), Values = Ptr(values), Indices = Ptr(indices), Rows = rows, Cols = v, K = k,
        };
        Kernel("sampling.cu", $"topk_fwd_{Suffix(x.DType, OpKind.TopK)}").Launch(_stream, (uint)rows, Block, 0, p);
    }

    /// <inheritdoc />
    public int SampleTopP(Tensor logits, double temperature, int topK, double topP, double u)
    {
        // The one device-to-host transfer of a sampled step is this 8-byte id.
        using DeviceBuffer<long> id = Scratch<long>(1);
        var p = new KernelParams.SampleParams
        {
            X = Ptr(logits), Out = id.Pointer, Temperature = temperature, TopP = topP, U = u,
            Cols = checked((int)logits.Numel), TopK = topK,
        };
        Kernel("sampling.cu", $"sample_topp_fwd_{Suffix(logits.DType, OpKind.SampleTopP)}").Launch(_stream, 1u, Block, 0,
            p);
        Span<long> host = stackalloc long[1];
        _stream.Download(id.Pointer, host);
        return checked((int)host[0]);
    }

    /// <inheritdoc />
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams hp)
    {
        if (param.Numel == 0) return;
        var p = new KernelParams.AdamWStepParams
        {
            Param = Ptr(param), Grad = Ptr(grad), M = Ptr(m), V = Ptr(v), N = (ulong)param.Numel,
            Lr = (float)hp.Lr, Beta1 = (float)hp.Beta1, Beta2 = (float)hp.Beta2, Eps = (float)hp.Eps,
            WeightDecay = (float)hp.WeightDecay,
            Bc1 = (float)(1 - Math.Pow(hp.Beta1, hp.Step)), Bc2 = (float)(1 - Math.Pow(hp.Beta2, hp.Step)),
        };
        Kernel("adamw.cu", $"adamw_fwd_{Suffix(param.DType, OpKind.AdamW)}").Launch(_stream, GridStride(param.Numel, 1),
            Block, 0, p);
    }

    /// <inheritdoc />
    public double SumOfSquares(Tensor x)
    {
        string name = $"sumsq_fwd_{Suffix(x.DType, OpKind.ClipGradNorm)}";
        if (x.Numel == 0) return 0;
        using DeviceBuffer<double> acc = Scratch<double>(1);
        Zero(acc.Pointer, sizeof(double));
        Kernel("adamw.cu", name).Launch(_stream, GridStride(x.Numel, 1), Block, 0,
            new KernelArgs().Add(Ptr(x)).Add(x.Numel).Add(acc.Pointer));
        Span<double> result = stackalloc double[1];
        _stream.Download(acc.Pointer, result);
        return result[0];
    }
}
