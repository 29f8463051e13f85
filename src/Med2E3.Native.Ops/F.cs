using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops;

/// <summary>
/// The functional op API. Every method allocates its result on the inputs' device, dispatches to the backend
/// (<see cref="CpuBackend"/> or the CUDA backend) and, when an input requires grad and recording is on, records a
/// <see cref="GradNode"/> so <see cref="Tensor.Backward(Tensor?)"/> can differentiate it.
/// <para><b>Conventions.</b> Shapes are row-major; Linear weights are [out, in] (PyTorch); attention tensors are
/// (B, H, T, Dh); additive key masks are (B, Tk) with 0 for keep and a large negative value (or −∞) for drop;
/// softmax and normalisations act on the last axis. Inputs are never modified or disposed; results are new tensors
/// that the caller (or the current <see cref="TensorScope"/>) owns. Views are on <see cref="Tensor"/> itself:
/// <c>Reshape, Flatten, Unsqueeze, Squeeze, Permute, Transpose, Narrow, Select, Expand, Contiguous, Alias, Detach,
/// Clone, To(DType), To(Device), CopyFrom</c>.</para>
/// <para><b>Ops.</b>
/// Linear(x, W, b) · MatMul(a, b) (batched, broadcast) · Add/Sub/Mul/Div (broadcast) · Scale(x, α, β) · Neg/Exp/Log/Sqrt/Relu ·
/// Gelu (erf) · GeluTanh · Silu · Tanh · Sigmoid · GatedSilu(gate_up) · Softmax(x, keyMask, causal) ·
/// LayerNorm(x, w, b, eps) · RmsNorm(x, w, eps) · Embedding(table, ids) · Rope(x, cos, sin) + RopeTables(…) ·
/// Attention(q, k, v, keyMask, causal, scale) · Conv3d · Patchify3d · Conv2dPatch · AvgPool3d · Sum/Mean(axis) ·
/// Concat · Split · RepeatInterleave · IndexSelect · Gather · CrossEntropy(logits, targets, ignoreIndex) ·
/// Argmax · TopK · SampleTopP · Cast · Checkpoint(block, inputs) · ClipGradNorm; the optimiser is <see cref="AdamW"/>.</para>
/// <para><b>Typical layer.</b>
/// <code>
/// using var scope = TensorScope.Begin();
/// var h = F.LayerNorm(x, ln1w, ln1b, 1e-5);               // (B, T, C)
/// var qkv = F.Linear(h, wqkv, null);                      // (B, T, 3C)
/// var q = qkv.Narrow(-1, 0, C).Reshape(B, T, H, Dh).Transpose(1, 2);   // (B, H, T, Dh) view
/// …
/// var o = F.Attention(q, k, v, keyMask: null, causal: false);         // (B, H, T, Dh)
/// return scope.Keep(F.Add(x, F.Linear(o.Transpose(1, 2).Reshape(B, T, C), wo, bo)));
/// </code></para>
/// <para><b>Precision.</b> F32 and F64 everywhere on the CPU; BF16/F16 compute in F32 and round to nearest even.
/// Mixed dtypes throw <see cref="DTypeMismatchException"/>; cast weights with <c>t.To(DType.F32)</c> first.</para>
/// </summary>
public static class F
{
    static F() => CpuBackend.EnsureRegistered();

    // ------------------------------------------------------------------ linear algebra

    /// <summary>y = x·Wᵀ + b. x (…, in), W (out, in), b (out) or null → (…, out).</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? bias = null) => Ops.MatMul.Linear(x, w, bias);

    /// <summary>y = x·Wᵀ + b with a frozen weight prepared once for the CPU (<see cref="Cpu.PreparedLinear"/>);
    /// x (…, in) f32 on the CPU, b (out) or null → (…, out); differentiable in x and b.</summary>
    public static Tensor Linear(Tensor x, Cpu.PreparedLinear w, Tensor? bias = null) => Ops.MatMul.Linear(x, w, bias);

    /// <summary>Matrix product a (…, M, K) · b (…, K, N) → (…, M, N), batch axes broadcast; transposed views are free.</summary>
    public static Tensor MatMul(Tensor a, Tensor b) => Ops.MatMul.Apply(a, b);

    // ------------------------------------------------------------------ element-wise

    /// <summary>a + b with broadcasting.</summary>
    public static Tensor Add(Tensor a, Tensor b) => Elementwise.Binary(BinaryOp.Add, a, b);

    /// <summary>a − b with broadcasting.</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Elementwise.Binary(BinaryOp.Sub, a, b);

    /// <summary>a ⊙ b with broadcasting.</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Elementwise.Binary(BinaryOp.Mul, a, b);

    /// <summary>a / b with broadcasting.</summary>
    public static Tensor Div(Tensor a, Tensor b) => Elementwise.Binary(BinaryOp.Div, a, b);

    /// <summary>alpha·x + beta.</summary>
    public static Tensor Scale(Tensor x, double alpha, double beta = 0) => Elementwise.Scale(x, alpha, beta);

    /// <summary>−x.</summary>
    public static Tensor Neg(Tensor x) => Elementwise.Unary(UnaryOp.Neg, x);

    /// <summary>exp(x).</summary>
    public static Tensor Exp(Tensor x) => Elementwise.Unary(UnaryOp.Exp, x);

    /// <summary>ln(x).</summary>
    public static Tensor Log(Tensor x) => Elementwise.Unary(UnaryOp.Log, x);

    /// <summary>√x.</summary>
    public static Tensor Sqrt(Tensor x) => Elementwise.Unary(UnaryOp.Sqrt, x);

    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => Elementwise.Unary(UnaryOp.Relu, x);

    /// <summary>tanh(x).</summary>
    public static Tensor Tanh(Tensor x) => Elementwise.Unary(UnaryOp.Tanh, x);

    /// <summary>1 / (1 + e^−x).</summary>
    public static Tensor Sigmoid(Tensor x) => Elementwise.Unary(UnaryOp.Sigmoid, x);

    /// <summary>GELU, exact: 0.5·x·(1 + erf(x/√2)) (M3D ViT, BERT, connectors).</summary>
    public static Tensor Gelu(Tensor x) => Elementwise.Unary(UnaryOp.Gelu, x);

    /// <summary>GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715x³))) (SigLIP).</summary>
    public static Tensor GeluTanh(Tensor x) => Elementwise.Unary(UnaryOp.GeluTanh, x);

    /// <summary>SiLU: x·σ(x).</summary>
    public static Tensor Silu(Tensor x) => Elementwise.Unary(UnaryOp.Silu, x);

    /// <summary>Phi-3 gated MLP activation: gu (…, 2F) → up ⊙ silu(gate), gate = gu[…, :F], up = gu[…, F:] → (…, F).</summary>
    public static Tensor GatedSilu(Tensor gateUp) => Elementwise.GatedSilu(gateUp);

    /// <summary>Converts to <paramref name="dtype"/> (same as <c>x.To(dtype)</c>).</summary>
    public static Tensor Cast(Tensor x, DType dtype) => x.To(dtype);

    // ------------------------------------------------------------------ reductions and normalisation

    /// <summary>Sum over <paramref name="axis"/>.</summary>
    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => Reduce.Apply(ReduceOp.Sum, x, axis, keepDim);

    /// <summary>Mean over <paramref name="axis"/>.</summary>
    public static Tensor Mean(Tensor x, int axis, bool keepDim = false) => Reduce.Apply(ReduceOp.Mean, x, axis, keepDim);

    /// <summary>
    /// Softmax over the last axis. keyMask (B, Tk) is added to the logits of batch b (x's first axis);
    /// causal masks key j &gt; i + (Tk − Tq) for query row i (x's second-to-last axis). Fully masked rows give 0.
    /// </summary>
    public static Tensor Softmax(Tensor x, Tensor? keyMask = null, bool causal = false) => Ops.Softmax.Apply(x, keyMask, causal);

    /// <summary>LayerNorm over the last axis: (x − mean)/√(var + eps)·w + b (w, b (C) optional).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, double eps) => Ops.LayerNorm.Apply(x, weight, bias, eps);

    /// <summary>RMSNorm over the last axis: x/√(mean(x²) + eps)·w.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight, double eps) => Ops.RmsNorm.Apply(x, weight, eps);

    // ------------------------------------------------------------------ embeddings and attention

    /// <summary>table (V, C), ids I32/I64 (any shape) → (ids…, C).</summary>
    public static Tensor Embedding(Tensor table, Tensor ids) => Ops.Embedding.Apply(table, ids);

    /// <summary>Rotary embedding with split halves on x (…, T, Dh) using cos, sin (T, Dh) from <see cref="RopeTables"/>.</summary>
    public static Tensor Rope(Tensor x, Tensor cos, Tensor sin) => Ops.Rope.Apply(x, cos, sin);

    /// <summary>
    /// LongRoPE cos/sin tables (T, Dh) for positions start … start + length − 1: inv_freq[i] = 1/(f[i]·θ^(2i/Dh)),
    /// cos/sin scaled by <paramref name="attentionFactor"/> (see <see cref="Rope.LongRopeAttentionFactor"/>,
    /// <see cref="Rope.SelectFactors"/>). factors null = plain RoPE.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) RopeTables(int start, int length, int headDim, double theta, double[]? factors = null,
        double attentionFactor = 1.0, DType dtype = DType.F32, Device? device = null) =>
        Ops.Rope.Tables(start, length, headDim, theta, factors, attentionFactor, dtype, device);

    /// <summary>
    /// softmax(q·kᵀ·scale + keyMask, causal)·v. q (B, H, Tq, Dh); k, v (B, H, Tk, Dh) (views with unit last stride are
    /// used without copying); keyMask (B, Tk) additive; causal aligns the last query with the last key (decode: Tq = 1
    /// against the cache). scale defaults to 1/√Dh. → (B, H, Tq, Dh).
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor? keyMask = null, bool causal = false, double? scale = null) =>
        Ops.Attention.Apply(q, k, v, keyMask, causal, scale);

    // ------------------------------------------------------------------ convolution and pooling

    /// <summary>3D convolution x (B, Ci, D, Hi, W), w (Co, Ci, Kd, Kh, Kw), bias (Co) → (B, Co, Do, Ho, Wo).</summary>
    public static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding) => Conv.Conv3d(x, w, bias, stride, padding);

    /// <summary>3D perceptron patchify: (B, C, D, Hi, W) → (B, gz·gy·gx, pz·py·px·C); tokens z-major, C fastest.</summary>
    public static Tensor Patchify3d(Tensor x, int pz, int py, int px) => Conv.Patchify3d(x, pz, py, px);

    /// <summary>Conv2d with kernel = stride = P (SigLIP patch embedding): (B, C, Hi, W) → (B, Co, Hi/P, W/P) view.</summary>
    public static Tensor Conv2dPatch(Tensor x, Tensor w, Tensor? bias) => Conv.Conv2dPatch(x, w, bias);

    /// <summary>3D average pooling without padding: (B, C, D, Hi, W) → (B, C, Do, Ho, Wo).</summary>
    public static Tensor AvgPool3d(Tensor x, int[] kernel, int[] stride) => Pool.AvgPool3d(x, kernel, stride);

    /// <summary>
    /// Crop + trilinear resize (align_corners = False): x (B, C, D, Hi, W) → (B, C, size[0], size[1], size[2]).
    /// <paramref name="crop"/> = (z0, z1, y0, y1, x0, x1) selects the source region (null: the whole volume).
    /// Not differentiable.
    /// </summary>
    public static Tensor ResizeTrilinear3d(Tensor x, int[] size, int[]? crop = null) => Resize.ResizeTrilinear3d(x, size, crop);

    // ------------------------------------------------------------------ indexing

    /// <summary>Concatenation along <paramref name="axis"/>.</summary>
    public static Tensor Concat(int axis, params Tensor[] xs) => Indexing.Concat(xs, axis);

    /// <summary>Views of consecutive pieces of the given sizes along <paramref name="axis"/>.</summary>
    public static Tensor[] Split(Tensor x, int[] sizes, int axis) => Indexing.Split(x, sizes, axis);

    /// <summary>Repeats every slice along <paramref name="axis"/> <paramref name="repeats"/> times (torch.repeat_interleave).</summary>
    public static Tensor RepeatInterleave(Tensor x, int repeats, int axis) => Indexing.RepeatInterleave(x, repeats, axis);

    /// <summary>Slices ids (1-D I32/I64) along <paramref name="axis"/>.</summary>
    public static Tensor IndexSelect(Tensor x, int axis, Tensor ids) => Indexing.IndexSelect(x, axis, ids);

    /// <summary>torch.gather: y[…, j, …] = x[…, index[…, j, …], …] along <paramref name="axis"/>.</summary>
    public static Tensor Gather(Tensor x, int axis, Tensor index) => Indexing.Gather(x, axis, index);

    // ------------------------------------------------------------------ losses, sampling, training

    /// <summary>Mean cross-entropy of logits (…, V) against targets (…) I64/I32, skipping <paramref name="ignoreIndex"/>. → scalar.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = -100) => Ops.CrossEntropy.Apply(logits, targets, ignoreIndex);

    /// <summary>Index of the first maximum along the last axis (I64, last axis removed).</summary>
    public static Tensor Argmax(Tensor x) => Sampling.Argmax(x);

    /// <summary>The k largest values along the last axis (descending) and their I64 indices.</summary>
    public static (Tensor Values, Tensor Indices) TopK(Tensor x, int k) => Sampling.TopK(x, k);

    /// <summary>One token from logits (V): temperature ≤ 0 is greedy; otherwise top-k (≤ 0: off) then top-p, seeded.</summary>
    public static int SampleTopP(Tensor logits, double temperature, int topK, double topP, SeededRandom rng) =>
        Sampling.SampleTopP(logits, temperature, topK, topP, rng);

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm) => Optim.ClipGradNorm(parameters, maxNorm);

    /// <summary>
    /// Gradient checkpointing: runs <paramref name="block"/> without recording, saving only its inputs; during
    /// backward it runs the block again with recording on and back-propagates through it. Parameters the block
    /// captures receive their gradients then. The block must be deterministic and must not dispose its inputs.
    /// </summary>
    public static Tensor Checkpoint(Func<Tensor[], Tensor> block, params Tensor[] inputs)
    {
        Tensor y;
        using (new NoGradScope()) y = block(inputs);
        if (!NoGradScope.IsGradEnabled) return y;
        // The recorded node must treat the block output as fresh: an alias keeps ownership simple if the block
        // returned one of its inputs.
        return Autograd.Record(y, OpKind.Copy, "Checkpoint", inputs, inputs, (node, g) =>
        {
            var saved = node.Saved;
            var detached = new Tensor[saved.Count];
            for (int i = 0; i < detached.Length; i++)
            {
                detached[i] = saved[i]!.Detach();
                if (node.NeedsInputGrad(i)) detached[i].RequiresGrad = true;
            }
            var grads = new Tensor?[detached.Length];
            using (NoGradScope.EnableGrad())
            using (var scope = TensorScope.Begin())
            {
                var out2 = block(detached);
                out2.Backward(g);
            }
            for (int i = 0; i < detached.Length; i++)
            {
                if (node.NeedsInputGrad(i) && detached[i].Grad is { } gr) grads[i] = gr.AliasNoGrad();
                detached[i].Dispose();
            }
            return grads;
        });
    }
}
