using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

// Rotary embedding and attention (kernels/rope.cu, kernels/attention.cu).
public sealed partial class CudaBackend
{
    private const int AttentionTile = 32;      // ATT_BQ = ATT_BK in attention.cu
    private const int AttentionMaxHeadDim = 128;
    private const int AttentionMaxHeadDimBackward = 96;
    private const int DecodeMaxChunk = 256;    // ATT_DEC_CHUNK
    private const int TensorCoreTile = 64;     // ATT2_BQ = ATT2_BK

    /// <summary>
    /// Launch the bf16 tensor-core attention forward (<c>attention_fwd_bf16_v2</c>) instead of the SIMT default where
    /// it applies (bf16, head dim 64 or 96, more than one query, 4-byte aligned rows). Off by default: the variant has
    /// not yet been run on a device.
    /// </summary>
    public bool TensorCoreAttention { get; set; }

    /// <inheritdoc />
    public void Rope(Tensor x, Tensor cos, Tensor sin, Tensor y, bool backward)
    {
        int t = x.Dim(-2), dh = x.Dim(-1);
        long rows = x.Numel / Math.Max(1L * t * dh, 1);
        if (rows == 0 || t == 0) return;
        // x and y are contiguous (R, T, Dh): R rows of one "head" each.
        var p = new KernelParams.RopeParams
        {
            X = Ptr(x), Y = Ptr(y), Cos = Ptr(cos), Sin = Ptr(sin),
            Batch = checked((int)rows), Heads = 1, Tokens = t, HeadDim = dh,
            XSb = t * dh, XSh = 0, XSt = dh, YSb = t * dh, YSh = 0, YSt = dh,
        };
        string name = $"rope_{(backward ? "bwd" : "fwd")}_{Suffix(x.DType, OpKind.Rope)}";
        Kernel("rope.cu", name).Launch(_stream, Grid(rows * t * (dh / 2)), Block, 0, p);
    }

    /// <inheritdoc />
    public void Attention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o,
        Tensor lse)
    {
        string suffix = Suffix(q.DType, OpKind.Attention);
        var p = AttentionArgs(q, k, v, keyMask, causal, scale, AttentionMaxHeadDim);
        if (p.Batch * p.Heads == 0 || p.Tq == 0) return;
        p.O = Ptr(o);
        p.Lse = Ptr(lse);
        (p.OSb, p.OSh, p.OSt) = Strides3(o);
        if (p.Tq == 1 && p.Tk > 0)
        {
            // A decode step: split the keys across blocks so that even B·H = 32 heads fill the GPU, then merge.
            int bh = p.Batch * p.Heads;
            int splits = Math.Max((p.Tk + DecodeMaxChunk - 1) / DecodeMaxChunk,
                Math.Min((p.Tk + 31) / 32, (2 * _device.SmCount + bh - 1) / bh));
            p.Splits = splits;
            using DeviceBuffer<float> partial = Scratch<float>((long)bh * splits * (p.HeadDim + 2));
            p.Partial = partial.Pointer;
            Launch("attention.cu", $"attention_decode_{suffix}", new Dim3((uint)bh, (uint)splits), p, block: 128);
            Kernel("attention.cu", $"attention_decode_combine_{suffix}").Launch(_stream, (uint)bh, 128, 0, p);
            return;
        }

        if (TensorCoreAttention && UsesTensorCores(q, k, v, p))
        {
            int bytes = 3 * TensorCoreTile * (p.HeadDim + 8) * 2;
            Launch("attention.cu", "attention_fwd_bf16_v2",
                new Dim3(Dim3.CeilDiv(p.Tq, TensorCoreTile), (uint)(p.Batch * p.Heads)), p, block: 128, smem: bytes);
            return;
        }

        int smem = (2 * AttentionTile * (p.HeadDim + 1) + AttentionTile * (AttentionTile + 1)) * sizeof(float);
        Kernel("attention.cu", $"attention_fwd_{suffix}").Launch(_stream,
            new Dim3(Dim3.CeilDiv(p.Tq, AttentionTile), (uint)(p.Batch * p.Heads)), 128, smem, p);
    }

    /// <inheritdoc />
    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o,
        Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv)
    {
        string suffix = Suffix(q.DType, OpKind.Attention);
        var p = AttentionArgs(q, k, v, keyMask, causal, scale, AttentionMaxHeadDimBackward);
        int bh = p.Batch * p.Heads;
        if (bh == 0) return;
        p.O = Ptr(o);
        p.Lse = Ptr(lse);
        p.Dout = Ptr(dO);
        p.Dq = Ptr(dq);
        p.Dk = Ptr(dk);
        p.Dv = Ptr(dv);
        (p.OSb, p.OSh, p.OSt) = Strides3(o);
        (p.DoSb, p.DoSh, p.DoSt) = Strides3(dO);
        (p.DqSb, p.DqSh, p.DqSt) = Strides3(dq);
        (p.DkSb, p.DkSh, p.DkSt) = Strides3(dk);
        (p.DvSb, p.DvSh, p.DvSt) = Strides3(dv);
        using DeviceBuffer<float> delta = Scratch<float>((long)bh * p.Tq);
        p.Delta = delta.Pointer;
        int ld = p.HeadDim + 1;
        if (p.Tq > 0)
        {
            Launch("attention.cu", $"attention_bwd_delta_{suffix}", WarpRows((long)bh * p.Tq), p);
        }

        if (p.Tk > 0)
        {
            int smem = ((2 * 32 + 2 * 16) * ld + 2 * 32 * 17) * sizeof(float);
            Kernel("attention.cu", $"attention_bwd_dkdv_{suffix}").Launch(_stream,
                new Dim3(Dim3.CeilDiv(p.Tk, AttentionTile), (uint)bh), 128, smem, p);
        }

        if (p.Tq > 0)
        {
            int smem = ((2 * 32 + 2 * 16) * ld + 32 * 17) * sizeof(float);
            Kernel("attention.cu", $"attention_bwd_dq_{suffix}").Launch(_stream,
                new Dim3(Dim3.CeilDiv(p.Tq, AttentionTile), (uint)bh), 128, smem, p);
        }
    }

    private static KernelParams.AttentionParams AttentionArgs(Tensor q, Tensor k, Tensor v, Tensor? keyMask,
        bool causal, double scale, int maxHeadDim)
    {
        int dh = q.Dim(3);
        if (dh > maxHeadDim)
            throw new NotSupportedOnBackendException("cuda", OpKind.Attention, q.DType,
                $"head dim {dh} exceeds the {maxHeadDim} of kernels/attention.cu");
        foreach (var t in new[] { q, k, v })
            if (t.Dim(3) > 1 && t.StridesSpan[3] != 1)
                throw new ShapeMismatchException("Attention", t.ShapeSpan, "the head dim must have unit stride");
        var p = new KernelParams.AttentionParams
        {
            Q = Ptr(q), K = Ptr(k), V = Ptr(v), Mask = Ptr(keyMask),
            Batch = q.Dim(0), Heads = q.Dim(1), Tq = q.Dim(2), Tk = k.Dim(2), HeadDim = dh,
            Causal = causal ? 1 : 0, Scale = (float)scale,
        };
        (p.QSb, p.QSh, p.QSt) = Strides3(q);
        (p.KSb, p.KSh, p.KSt) = Strides3(k);
        (p.VSb, p.VSh, p.VSt) = Strides3(v);
        return p;
    }

    // attention_fwd_bf16_v2 moves bf16 pairs as 4-byte words: every row must start on an even element.
    private static bool UsesTensorCores(Tensor q, Tensor k, Tensor v, KernelParams.AttentionParams p) =>
        q.DType == DType.BF16 && p.HeadDim is (64 or 96) && p.Tq > 1
        && new[] { q, k, v }.All(t => Ptr(t) % 4 == 0 && t.StridesSpan[..3].ToArray().All(s => s % 2 == 0));

    private static (int, int, int) Strides3(Tensor t) => (t.StridesSpan[0], t.StridesSpan[1], t.StridesSpan[2]);
}
