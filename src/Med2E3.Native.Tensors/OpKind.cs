namespace Med2E3.Native.Tensors;

/// <summary>
/// The single list of operations. Every entry has a CPU reference, an entry in the Ops project's
/// <c>OpRegistry</c> and a conformance case. Views are listed because they record autograd nodes.
/// </summary>
public enum OpKind
{
    /// <summary>Strided copy (Contiguous, CopyFrom, Concat building block).</summary>
    Copy,
    /// <summary>Fill with a constant.</summary>
    Fill,
    /// <summary>dtype conversion (round to nearest even for bf16/f16).</summary>
    Cast,
    /// <summary>Reshape / view (no data movement when contiguous).</summary>
    Reshape,
    /// <summary>Axis permutation / transpose (view).</summary>
    Permute,
    /// <summary>Slice along one axis (view).</summary>
    Narrow,
    /// <summary>Broadcast to a larger shape (view with zero strides).</summary>
    Expand,
    /// <summary>a + b with broadcasting.</summary>
    Add,
    /// <summary>a − b with broadcasting.</summary>
    Sub,
    /// <summary>a ⊙ b with broadcasting.</summary>
    Mul,
    /// <summary>a / b with broadcasting.</summary>
    Div,
    /// <summary>alpha·x + beta.</summary>
    Scale,
    /// <summary>−x.</summary>
    Neg,
    /// <summary>exp(x).</summary>
    Exp,
    /// <summary>ln(x).</summary>
    Log,
    /// <summary>√x.</summary>
    Sqrt,
    /// <summary>max(x, 0).</summary>
    Relu,
    /// <summary>tanh(x).</summary>
    Tanh,
    /// <summary>1/(1+e^−x).</summary>
    Sigmoid,
    /// <summary>GELU, exact erf form: x·Φ(x).</summary>
    Gelu,
    /// <summary>GELU, tanh approximation (gelu_pytorch_tanh).</summary>
    GeluTanh,
    /// <summary>SiLU: x·σ(x).</summary>
    Silu,
    /// <summary>Phi-3 gated MLP activation: gate = first half, up = second half, a = up ⊙ silu(gate).</summary>
    GatedSilu,
    /// <summary>Sum over one axis.</summary>
    Sum,
    /// <summary>Mean over one axis.</summary>
    Mean,
    /// <summary>(Batched) matrix product.</summary>
    MatMul,
    /// <summary>y = x·Wᵀ + b with W [out, in].</summary>
    Linear,
    /// <summary>Softmax over the last axis with optional key mask and causal flag.</summary>
    Softmax,
    /// <summary>LayerNorm over the last axis.</summary>
    LayerNorm,
    /// <summary>RMSNorm over the last axis (Phi-3).</summary>
    RmsNorm,
    /// <summary>Embedding table lookup.</summary>
    Embedding,
    /// <summary>Rotary position embedding (rotate_half on split halves).</summary>
    Rope,
    /// <summary>Fused scaled-dot-product attention.</summary>
    Attention,
    /// <summary>General 3D convolution (stride, padding, dilation 1).</summary>
    Conv3d,
    /// <summary>3D "perceptron" patchify: rearrange to (B, gz·gy·gx, pz·py·px·C).</summary>
    Patchify3d,
    /// <summary>2D patch convolution, kernel = stride (SigLIP).</summary>
    Conv2dPatch,
    /// <summary>3D average pooling, no padding.</summary>
    AvgPool3d,
    /// <summary>Crop + trilinear resize of (B, C, D, Hi, W), align_corners = False (volume preprocessing).</summary>
    ResizeTrilinear3d,
    /// <summary>Concatenate along an axis.</summary>
    Concat,
    /// <summary>Split into pieces along an axis (views).</summary>
    Split,
    /// <summary>Repeat each slice along an axis.</summary>
    RepeatInterleave,
    /// <summary>Select slices by index along an axis.</summary>
    IndexSelect,
    /// <summary>torch.gather along an axis.</summary>
    Gather,
    /// <summary>Cross-entropy with ignore_index, fused log-softmax, mean over valid targets.</summary>
    CrossEntropy,
    /// <summary>Index of the maximum along the last axis.</summary>
    Argmax,
    /// <summary>k largest values and their indices along the last axis.</summary>
    TopK,
    /// <summary>Seeded temperature / top-k / top-p sampling of one token.</summary>
    SampleTopP,
    /// <summary>Fused AdamW update (torch semantics).</summary>
    AdamW,
    /// <summary>Global gradient-norm clipping.</summary>
    ClipGradNorm,
}
