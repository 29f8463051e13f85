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
    private const int PipelinedKeyTile = 64;   // ATT3_BK
    private const int StreamingDecodeStep = 64;  // keys one block of attention_decode_bf16_v2 reads per step

    // MED2E3_FAST_ATTENTION=1 starts both switches below on, so that a device run can measure the whole model with
    // the new kernels (golden-check, the end-to-end benchmark) without a rebuild.
    private static readonly bool FastAttentionFromEnvironment =
        Environment.GetEnvironmentVariable("MED2E3_FAST_ATTENTION") == "1";

    // attention_decode_bf16_v2: one counter per (b, h), zeroed once; the kernel leaves it at zero after each launch.
    private DeviceBuffer<int>? _decodeTickets;

    /// <summary>
    /// Launch the bf16 tensor-core prefill kernels instead of the SIMT default where they apply (bf16, head dim 64 or
    /// 96, more than one query, positive scale, 16-byte aligned rows): <c>attention_fwd_bf16_v4</c> (128 queries per
    /// block) at head dim 64, the 3D ViT and SigLIP, and <c>attention_fwd_bf16_v3</c> (64 per block) at head dim 96,
    /// the Phi-3 prefill; <c>attention_fwd_bf16_v2</c> where only 4-byte alignment holds. Off by default (on with
    /// <c>MED2E3_FAST_ATTENTION=1</c>): these variants have not yet been measured on a device.
    /// </summary>
    public bool TensorCoreAttention { get; set; } = FastAttentionFromEnvironment;

    /// <summary>
    /// Launch the streaming split-K decode <c>attention_decode_bf16_v2</c> (16-byte K/V loads, one pass, the splits
    /// merged in the same launch) for single-query bf16 steps with head dim 64 or 96 and 16-byte aligned K/V rows,
    /// instead of <c>attention_decode_bf16</c> + <c>attention_decode_combine_bf16</c>. Off by default (on with
    /// <c>MED2E3_FAST_ATTENTION=1</c>): not yet measured on a device.
    /// </summary>
    public bool StreamingDecodeAttention { get; set; } = FastAttentionFromEnvironment;

    /// <summary>
    /// Forces one forward attention kernel (tests and benchmarks): every <see cref="Attention"/> call while it is set
    /// launches this kernel, or throws <see cref="NotSupportedOnBackendException"/> where it does not apply.
    /// </summary>
    internal string? AttentionKernelOverride { get; set; }

    /// <summary>
    /// The forward kernel <see cref="Attention"/> launches for these operands with the current settings (the first one,
    /// where a second one follows: the decode's combine).
    /// </summary>
    /// <param name="q">Queries (B, H, Tq, Dh).</param>
    /// <param name="k">Keys (B, H, Tk, Dh).</param>
    /// <param name="v">Values (B, H, Tk, Dh).</param>
    /// <param name="o">The output (B, H, Tq, Dh).</param>
    /// <param name="scale">The logit scale.</param>
    public string AttentionKernelFor(Tensor q, Tensor k, Tensor v, Tensor o, double scale) =>
        SelectAttention(q, k, v, o, scale, AttentionArgs(q, k, v, null, false, scale, AttentionMaxHeadDim));

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
        int bh = p.Batch * p.Heads;
        string kernel = SelectAttention(q, k, v, o, scale, p);
        switch (kernel)
        {
            case "attention_decode_f32" or "attention_decode_bf16":
            {
                // A decode step: split the keys across blocks so that even B·H = 32 heads fill the GPU, then merge.
                int splits = Math.Max((p.Tk + DecodeMaxChunk - 1) / DecodeMaxChunk,
                    Math.Min((p.Tk + 31) / 32, (2 * _device.SmCount + bh - 1) / bh));
                p.Splits = splits;
                using DeviceBuffer<float> partial = Scratch<float>((long)bh * splits * (p.HeadDim + 2));
                p.Partial = partial.Pointer;
                Launch("attention.cu", kernel, new Dim3((uint)bh, (uint)splits), p, block: 128);
                Kernel("attention.cu", $"attention_decode_combine_{suffix}").Launch(_stream, (uint)bh, 128, 0, p);
                return;
            }

            case "attention_decode_bf16_v2":
            {
                p.Splits = StreamingDecodeSplits(bh, p.Tk);
                using DeviceBuffer<float> partial = Scratch<float>((long)bh * p.Splits * (p.HeadDim + 2));
                p.Partial = partial.Pointer;
                p.Tickets = DecodeTickets(bh);
                Launch("attention.cu", kernel, new Dim3((uint)bh, (uint)p.Splits), p, block: 128);
                return;
            }

            case "attention_fwd_bf16_v2":
            {
                int bytes = 3 * TensorCoreTile * (p.HeadDim + 8) * 2;
                Launch("attention.cu", kernel, new Dim3(Dim3.CeilDiv(p.Tq, TensorCoreTile), (uint)bh), p, block: 128,
                    smem: bytes);
                return;
            }

            case "attention_fwd_bf16_v3" or "attention_fwd_bf16_v4":
            {
                // Two K/V tiles in flight (double buffering); the Q tile is staged in the second one.
                int rows = kernel == "attention_fwd_bf16_v4" ? 128 : 64;
                int bytes = PipelinedSharedBytes(p.HeadDim);
                CudaKernel f = Kernel("attention.cu", kernel);
                if (f.MaxDynamicSharedBytes < bytes) f.SetMaxDynamicSharedMemory(bytes);
                f.Launch(_stream, new Dim3(Dim3.CeilDiv(p.Tq, rows), (uint)bh), 128, bytes, p);
                return;
            }

            default:
            {
                int smem = (2 * AttentionTile * (p.HeadDim + 1) + AttentionTile * (AttentionTile + 1)) * sizeof(float);
                Kernel("attention.cu", kernel).Launch(_stream,
                    new Dim3(Dim3.CeilDiv(p.Tq, AttentionTile), (uint)bh), 128, smem, p);
                return;
            }
        }
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

    // Which forward kernel runs: the override, else the per-regime choice of the two switches, else the default.
    private string SelectAttention(Tensor q, Tensor k, Tensor v, Tensor o, double scale,
        KernelParams.AttentionParams p)
    {
        string suffix = Suffix(q.DType, OpKind.Attention);
        bool decode = p.Tq == 1 && p.Tk > 0;
        bool streaming = decode && q.DType == DType.BF16 && p.HeadDim is (64 or 96) && RowsAligned(16, k, v);
        // v2 moves bf16 pairs as 4-byte words; v3 and v4 copy 16-byte row pieces with cp.async and rely on scale > 0
        // (the row max of the unscaled logits); all three store the output as 4-byte pairs.
        bool v2 = !decode && q.DType == DType.BF16 && p.HeadDim is (64 or 96) && p.Tq > 1 && RowsAligned(4, q, k, v, o);
        bool v3 = v2 && scale > 0 && RowsAligned(16, q, k, v)
            && PipelinedSharedBytes(p.HeadDim) <= _device.MaxSharedMemoryPerBlockOptin;
        bool v4 = v3 && p.HeadDim == 64;
        if (AttentionKernelOverride is { } forced)
        {
            bool applies = forced switch
            {
                "attention_fwd_bf16_v2" => v2,
                "attention_fwd_bf16_v3" => v3,
                "attention_fwd_bf16_v4" => v4,
                "attention_decode_bf16_v2" => streaming,
                _ => forced == (decode ? $"attention_decode_{suffix}" : $"attention_fwd_{suffix}"),
            };
            if (!applies)
                throw new NotSupportedOnBackendException("cuda", OpKind.Attention, q.DType,
                    $"{forced} does not apply to q {string.Join("x", q.ShapeSpan.ToArray())}, Tk {p.Tk}");
            return forced;
        }

        if (decode)
            return StreamingDecodeAttention && streaming ? "attention_decode_bf16_v2" : $"attention_decode_{suffix}";
        if (!TensorCoreAttention) return $"attention_fwd_{suffix}";
        return v4 ? "attention_fwd_bf16_v4"
            : v3 ? "attention_fwd_bf16_v3"
            : v2 ? "attention_fwd_bf16_v2"
            : $"attention_fwd_{suffix}";
    }

    // Every row of every tensor starts on a multiple of `bytes`: the base address and the batch, head and token
    // strides (bf16 elements).
    private static bool RowsAligned(int bytes, params Tensor[] ts) =>
        ts.All(t => Ptr(t) % (ulong)bytes == 0 && t.StridesSpan[..3].ToArray().All(s => s * 2 % bytes == 0));

    // Dynamic shared memory of attention_fwd_bf16_v3/_v4: two stages of K and V, 64 rows each, padded by 8.
    private static int PipelinedSharedBytes(int headDim) => 2 * 2 * PipelinedKeyTile * (headDim + 8) * 2;

    // Splits of attention_decode_bf16_v2: enough blocks for four per SM (a whole grid resident at once), each at least
    // one step of 64 keys, and chunks in whole steps.
    private int StreamingDecodeSplits(int bh, int tk)
    {
        int steps = (tk + StreamingDecodeStep - 1) / StreamingDecodeStep;
        int splits = Math.Clamp((4 * _device.SmCount + bh - 1) / bh, 1, steps);
        int stepsPerSplit = (steps + splits - 1) / splits;
        return (steps + stepsPerSplit - 1) / stepsPerSplit;
    }

    private ulong DecodeTickets(int bh)
    {
        if (_decodeTickets is null || _decodeTickets.Count < bh)
        {
            _decodeTickets?.Dispose();
            _decodeTickets = _device.Pool.Rent<int>(Math.Max(bh, 64));
            Zero(_decodeTickets.Pointer, _decodeTickets.Bytes);
        }

        return _decodeTickets.Pointer;
    }

    private static (int, int, int) Strides3(Tensor t) => (t.StridesSpan[0], t.StridesSpan[1], t.StridesSpan[2]);
}
