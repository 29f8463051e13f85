namespace Med2E3.Native.Tensors;

/// <summary>The node of a leaf tensor: backward adds the incoming gradient into <see cref="Tensor.Grad"/>.</summary>
public sealed class AccumulateGrad : GradNode
{
    internal AccumulateGrad(Tensor leaf)
        : base(OpKind.Copy, "AccumulateGrad", [], [], null, leaf.Shape, leaf.DType, leaf.Device) => Leaf = leaf;

    /// <summary>The leaf (null once it was disposed; its gradients are then dropped).</summary>
    public Tensor? Leaf { get; internal set; }

    internal override Tensor?[] Apply(Tensor gradOutput) => [];
}
