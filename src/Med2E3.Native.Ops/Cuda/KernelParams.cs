using System.Runtime.InteropServices;

namespace Med2E3.Native.Ops.Cuda;

/// <summary>
/// C# mirrors of the params structs in <c>kernels/*.cu</c>, passed by value to <c>CudaKernel.Launch</c>. Each has the
/// name of its C struct; the C file pins the size with <c>static_assert</c> and a test compares it with these.
/// Pointers are device addresses (0 for null); field comments are in the .cu files.
/// </summary>
internal static class KernelParams
{
    // layernorm.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct LayerNormParams
    {
        public ulong X, W, B, Y, Mean, Rstd;
        public int Rows, Cols;
        public float Eps;
        public int Pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct LayerNormBwdParams
    {
        public ulong Dy, X, W, Mean, Rstd, Dx;
        public int Rows, Cols;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct LayerNormWbParams
    {
        public ulong Dy, X, Mean, Rstd, Partial, Dw, Db;
        public int Rows, Cols, Chunks, RowsPerChunk;
    }

    // rmsnorm.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct RmsNormParams
    {
        public ulong X, W, Y, Rstd;
        public int Rows, Cols;
        public float Eps;
        public int Pad;
    }

    // softmax.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct SoftmaxParams
    {
        public ulong X, Dy, Y, Mask;
        public int Rows, Cols, Tq, PerBatch;
        public float Scale;
        public int Causal;
    }

    // rope.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct RopeTableParams
    {
        public ulong InvFreq, Cos, Sin;
        public int Rows, HeadDim, Pos0;
        public float AttnScale;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct RopeParams
    {
        public ulong X, Y, Cos, Sin;
        public int Batch, Heads, Tokens, HeadDim;
        public int XSb, XSh, XSt;
        public int YSb, YSh, YSt;
    }

    // attention.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct AttentionParams
    {
        public ulong Q, K, V, O, Lse, Mask, Dout, Dq, Dk, Dv, Delta, Partial, Tickets;
        public int Batch, Heads, Tq, Tk, HeadDim, Causal;
        public float Scale;
        public int Splits;
        public int QSb, QSh, QSt;
        public int KSb, KSh, KSt;
        public int VSb, VSh, VSt;
        public int OSb, OSh, OSt;
        public int DoSb, DoSh, DoSt;
        public int DqSb, DqSh, DqSt;
        public int DkSb, DkSh, DkSt;
        public int DvSb, DvSh, DvSt;
    }

    // embedding.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct EmbeddingParams
    {
        public ulong Ids, Table, Y, Dy, Dtable;
        public int N, Vocab, Cols, Ids64;
    }

    // conv3d.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct Conv3dParams
    {
        public ulong X, W, Bias, Y, Dy, Dx, Dw, Db;
        public int N, Ci, D, H, W_;
        public int Co, Kd, Kh, Kw;
        public int Od, Oh, Ow;
        public int Sd, Sh, Sw;
        public int Pd, Ph, Pw;
    }

    // pool.cu

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct AvgPool3dParams
    {
        public ulong Src, Dst;
        public int Batch, Channels;
        public int D, H, W;
        public int Od, Oh, Ow;
        public int Kd, Kh, Kw;
        public int Sd, Sh, Sw;
        public int OrderCFastest;
        public int Pad;
        public fixed long Xs[5];
        public fixed long Ys[5];
    }

    // resize.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct ResizeParams
    {
        public ulong X, Y;
        public int N, D, H, W;
        public int Z0, Y0, X0;
        public int Cd, Ch, Cw;
        public int Od, Oh, Ow;
        public int Pad;
    }

    // indexing.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct IndexParams
    {
        public ulong Src, Index, Y, Acc;
        public int Outer, N, M, Inner, Index64, Pad;
    }

    // cross_entropy.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct CrossEntropyParams
    {
        public ulong Logits, Targets, Losses, Lse, Dloss, Dlogits;
        public long IgnoreIndex;
        public int Rows, Vocab, Targets64, Pad;
    }

    // sampling.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct TopKParams
    {
        public ulong X, Values, Indices;
        public int Rows, Cols, K, Pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SampleParams
    {
        public ulong X, Out;
        public double Temperature, TopP, U;
        public int Cols, TopK;
    }

    // adamw.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct AdamWStepParams
    {
        public ulong Param, Grad, M, V;
        public ulong N;
        public float Lr, Beta1, Beta2, Eps, WeightDecay, Bc1, Bc2;
        public int Pad;
    }

    // patch_embed.cu

    [StructLayout(LayoutKind.Sequential)]
    internal struct PatchParams
    {
        public ulong Src, Dst;
        public int Batch, Channels;
        public int D, H, W;
        public int Pz, Py, Px;
        public int CFastest, Pad;
    }

    // strided.cu

    /// <summary>Largest rank the strided kernels take (STRIDED_MAX_RANK).</summary>
    internal const int StridedMaxRank = 8;

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct StridedParams
    {
        public ulong A, B, Y;
        public int Rank, ADtype, YDtype, Op;
        public double Value;
        public long N;
        public fixed int Shape[StridedMaxRank];
        public fixed long Sa[StridedMaxRank];
        public fixed long Sb[StridedMaxRank];
        public fixed long Sy[StridedMaxRank];
    }
}
