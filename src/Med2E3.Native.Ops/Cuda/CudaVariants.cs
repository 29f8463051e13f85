using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cuda;

/// <summary>
/// The CUDA kernels behind each op, least clever first, with the default the backend launches (f32 names; the bf16
/// kernels share the structure). Recorded in <see cref="OpRegistry"/> when the backend registers.
/// </summary>
internal static class CudaVariants
{
    private static readonly (OpKind Op, string[] Variants, string Default)[] Table =
    [
        (OpKind.Copy, ["copy_fwd_any"], "copy_fwd_any"),
        (OpKind.Fill, ["fill_fwd_any"], "fill_fwd_any"),
        (OpKind.Cast, ["copy_fwd_any", "cast_fwd_f32_to_bf16"], "copy_fwd_any"),
        (OpKind.Add, ["add_fwd_f32_v1", "add_fwd_f32_v2", "binary_fwd_f32"], "add_fwd_f32_v2"),
        (OpKind.Sub, ["sub_fwd_f32", "binary_fwd_f32"], "sub_fwd_f32"),
        (OpKind.Mul, ["mul_fwd_f32", "binary_fwd_f32"], "mul_fwd_f32"),
        (OpKind.Div, ["div_fwd_f32", "binary_fwd_f32"], "div_fwd_f32"),
        (OpKind.Scale, ["scale_fwd_f32"], "scale_fwd_f32"),
        (OpKind.Neg, ["neg_fwd_f32"], "neg_fwd_f32"),
        (OpKind.Exp, ["exp_fwd_f32"], "exp_fwd_f32"),
        (OpKind.Log, ["log_fwd_f32"], "log_fwd_f32"),
        (OpKind.Sqrt, ["sqrt_fwd_f32"], "sqrt_fwd_f32"),
        (OpKind.Relu, ["relu_fwd_f32"], "relu_fwd_f32"),
        (OpKind.Tanh, ["tanh_fwd_f32"], "tanh_fwd_f32"),
        (OpKind.Sigmoid, ["sigmoid_fwd_f32"], "sigmoid_fwd_f32"),
        (OpKind.Gelu, ["gelu_fwd_f32"], "gelu_fwd_f32"),
        (OpKind.GeluTanh, ["gelu_tanh_fwd_f32"], "gelu_tanh_fwd_f32"),
        (OpKind.Silu, ["silu_fwd_f32"], "silu_fwd_f32"),
        (OpKind.GatedSilu, ["gated_silu_fwd_f32"], "gated_silu_fwd_f32"),
        (OpKind.Sum, ["sum_fwd_f32_v1", "sum_fwd_f32_v2", "reduce_cols_fwd_f32"], "sum_fwd_f32_v2"),
        (OpKind.Mean, ["mean_fwd_f32", "reduce_cols_fwd_f32"], "mean_fwd_f32"),
        (OpKind.MatMul, ["cublasGemmEx"], "cublasGemmEx"),
        (OpKind.Linear, ["cublasGemmEx", "cublasLtMatmul+bias"], "cublasLtMatmul+bias"),
        (OpKind.Softmax, ["softmax_fwd_f32"], "softmax_fwd_f32"),
        (OpKind.LayerNorm, ["layernorm_fwd_f32_v1", "layernorm_fwd_f32"], "layernorm_fwd_f32"),
        (OpKind.RmsNorm, ["rmsnorm_fwd_f32"], "rmsnorm_fwd_f32"),
        (OpKind.Embedding, ["embedding_fwd_f32"], "embedding_fwd_f32"),
        (OpKind.Rope, ["rope_fwd_f32"], "rope_fwd_f32"),
        (OpKind.Attention,
            ["attention_fwd_f32", "attention_fwd_bf16_v2", "attention_fwd_bf16_v3", "attention_fwd_bf16_v4",
                "attention_decode_f32", "attention_decode_bf16_v2"], "attention_fwd_f32"),
        (OpKind.Conv3d, ["conv3d_fwd_f32"], "conv3d_fwd_f32"),
        (OpKind.Patchify3d, ["copy_fwd_any", "patch_embed_fwd_f32"], "copy_fwd_any"),
        (OpKind.Conv2dPatch, ["copy_fwd_any+cublasLtMatmul", "patch_embed_fwd_f32"], "copy_fwd_any+cublasLtMatmul"),
        (OpKind.AvgPool3d, ["avgpool3d_fwd_f32"], "avgpool3d_fwd_f32"),
        (OpKind.ResizeTrilinear3d, ["resize_trilinear3d_fwd_f32"], "resize_trilinear3d_fwd_f32"),
        (OpKind.Concat, ["copy_fwd_any"], "copy_fwd_any"),
        (OpKind.Split, ["copy_fwd_any"], "copy_fwd_any"),
        (OpKind.RepeatInterleave, ["copy_fwd_any"], "copy_fwd_any"),
        (OpKind.IndexSelect, ["index_select_fwd_f32"], "index_select_fwd_f32"),
        (OpKind.Gather, ["gather_fwd_f32"], "gather_fwd_f32"),
        (OpKind.CrossEntropy, ["cross_entropy_fwd_f32"], "cross_entropy_fwd_f32"),
        (OpKind.Argmax, ["argmax_fwd_f32"], "argmax_fwd_f32"),
        (OpKind.TopK, ["topk_fwd_f32"], "topk_fwd_f32"),
        (OpKind.AdamW, ["adamw_fwd_f32"], "adamw_fwd_f32"),
        (OpKind.ClipGradNorm, ["sumsq_fwd_f32"], "sumsq_fwd_f32"),
    ];

    /// <summary>Records every row of the table in <see cref="OpRegistry"/>.</summary>
    public static void RegisterAll()
    {
        foreach (var (op, variants, def) in Table) OpRegistry.RegisterCudaVariants(op, variants, def);
    }

    /// <summary>The kernel names of the table (for tests that check they exist).</summary>
    public static IEnumerable<string> KernelNames =>
        Table.SelectMany(r => r.Variants)
            .Where(v => !v.StartsWith("cublas", StringComparison.Ordinal) && !v.Contains('+'));
}
