using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops;

/// <summary>Maps every <see cref="OpKind"/> to its <see cref="IOp"/> description and its CUDA variants.</summary>
public static class OpRegistry
{
    private sealed class Op(OpKind kind, string family, bool backward, bool fast, string? kinks) : IOp
    {
        public OpKind Kind { get; } = kind;
        public string Name { get; } = kind.ToString();
        public string Family { get; } = family;
        public bool HasBackward { get; } = backward;
        public bool HasFastCpuPath { get; } = fast;
        public string? Kinks { get; } = kinks;
        public IReadOnlyList<string> CudaVariants { get; set; } = [];
        public string? DefaultCudaVariant { get; set; }
    }

    private static readonly Dictionary<OpKind, Op> Ops = Build();

    private static Dictionary<OpKind, Op> Build()
    {
        var d = new Dictionary<OpKind, Op>();
        void Add(OpKind k, string family, bool backward, bool fast = false, string? kinks = null) =>
            d[k] = new Op(k, family.Contains('/') ? family : "src/Med2E3.Native.Ops/Ops/" + family + ".cs", backward, fast, kinks);
        // Copies and views live in Tensors: the strided copy/cast/fill loops in TensorMath, the views in Tensor.Views.
        Add(OpKind.Copy, "src/Med2E3.Native.Tensors/TensorMath.cs", true, true);
        Add(OpKind.Fill, "src/Med2E3.Native.Tensors/TensorMath.cs", false, true);
        Add(OpKind.Cast, "src/Med2E3.Native.Tensors/TensorMath.cs", true, true);
        Add(OpKind.Reshape, "src/Med2E3.Native.Tensors/Tensor.Views.cs", true);
        Add(OpKind.Permute, "src/Med2E3.Native.Tensors/Tensor.Views.cs", true);
        Add(OpKind.Narrow, "src/Med2E3.Native.Tensors/Tensor.Views.cs", true);
        Add(OpKind.Expand, "src/Med2E3.Native.Tensors/Tensor.Views.cs", true);
        Add(OpKind.Add, "Elementwise", true, true);
        Add(OpKind.Sub, "Elementwise", true, true);
        Add(OpKind.Mul, "Elementwise", true, true);
        Add(OpKind.Div, "Elementwise", true, true);
        Add(OpKind.Scale, "Elementwise", true, true);
        Add(OpKind.Neg, "Elementwise", true, true);
        Add(OpKind.Exp, "Elementwise", true, true);
        Add(OpKind.Log, "Elementwise", true, true);
        Add(OpKind.Sqrt, "Elementwise", true, true);
        Add(OpKind.Relu, "Elementwise", true, true, "x = 0");
        Add(OpKind.Tanh, "Elementwise", true, true);
        Add(OpKind.Sigmoid, "Elementwise", true, true);
        Add(OpKind.Gelu, "Elementwise", true, true);
        Add(OpKind.GeluTanh, "Elementwise", true, true);
        Add(OpKind.Silu, "Elementwise", true, true);
        Add(OpKind.GatedSilu, "Elementwise", true, true);
        Add(OpKind.Sum, "Reduce", true, true);
        Add(OpKind.Mean, "Reduce", true, true);
        Add(OpKind.MatMul, "MatMul", true, true);
        Add(OpKind.Linear, "MatMul", true, true);
        Add(OpKind.Softmax, "Softmax", true, true);
        Add(OpKind.LayerNorm, "LayerNorm", true, true);
        Add(OpKind.RmsNorm, "RmsNorm", true, true);
        Add(OpKind.Embedding, "Embedding", true);
        Add(OpKind.Rope, "Rope", true);
        Add(OpKind.Attention, "Attention", true, true);
        Add(OpKind.Conv3d, "Conv", true, true);
        Add(OpKind.Patchify3d, "Conv", true);
        Add(OpKind.Conv2dPatch, "Conv", true, true);
        Add(OpKind.AvgPool3d, "Pool", true);
        Add(OpKind.ResizeTrilinear3d, "Resize", false);
        Add(OpKind.Concat, "Indexing", true);
        Add(OpKind.Split, "Indexing", true);
        Add(OpKind.RepeatInterleave, "Indexing", true);
        Add(OpKind.IndexSelect, "Indexing", true);
        Add(OpKind.Gather, "Indexing", true);
        Add(OpKind.CrossEntropy, "CrossEntropy", true, true);
        Add(OpKind.Argmax, "Sampling", false);
        Add(OpKind.TopK, "Sampling", false);
        Add(OpKind.SampleTopP, "Sampling", false);
        Add(OpKind.AdamW, "Optim", false);
        Add(OpKind.ClipGradNorm, "Optim", false);
        return d;
    }

    /// <summary>Every registered op, in <see cref="OpKind"/> order.</summary>
    public static IReadOnlyList<IOp> All => Ops.Values.OrderBy(o => o.Kind).ToArray();

    /// <summary>The op for <paramref name="kind"/>.</summary>
    /// <exception cref="KeyNotFoundException">The kind is not registered (a coverage test guards against this).</exception>
    public static IOp Get(OpKind kind) =>
        Ops.TryGetValue(kind, out var o) ? o : throw new KeyNotFoundException($"OpRegistry.cs: {kind} is not registered");

    /// <summary>True when <paramref name="kind"/> is registered.</summary>
    public static bool Contains(OpKind kind) => Ops.ContainsKey(kind);

    /// <summary>Registers the CUDA kernel variants of an op (called by the CUDA backend).</summary>
    /// <param name="kind">The op.</param>
    /// <param name="variants">Kernel names, least clever first.</param>
    /// <param name="defaultVariant">The variant launched by default; must be one of <paramref name="variants"/>.</param>
    public static void RegisterCudaVariants(OpKind kind, IReadOnlyList<string> variants, string defaultVariant)
    {
        if (!variants.Contains(defaultVariant))
            throw new ArgumentException($"OpRegistry.cs: default {defaultVariant} is not among the variants of {kind}", nameof(defaultVariant));
        var o = Ops[kind];
        o.CudaVariants = variants.ToArray();
        o.DefaultCudaVariant = defaultVariant;
    }
}
