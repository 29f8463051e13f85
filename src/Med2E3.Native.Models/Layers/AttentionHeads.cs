using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>The multi-head split and merge shared by every attention block (views, no copy of their own).</summary>
public static class AttentionHeads
{
    /// <summary>(B, T, H·Dh) → (B, H, T, Dh).</summary>
    public static Tensor Split(Tensor x, int heads, int headDim) =>
        x.Reshape(x.Dim(0), x.Dim(1), heads, headDim).Transpose(1, 2);

    /// <summary>(B, H, T, Dh) → (B, T, H·Dh), heads concatenated.</summary>
    public static Tensor Merge(Tensor o) =>
        o.Transpose(1, 2).Reshape(o.Dim(0), o.Dim(2), o.Dim(1) * o.Dim(3));
}
