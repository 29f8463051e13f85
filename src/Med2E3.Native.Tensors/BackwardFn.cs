namespace Med2E3.Native.Tensors;

/// <summary>
/// Computes the gradients of a node's inputs from the gradient of its output. Returns one entry per input
/// (null where the input needs no gradient, see <see cref="GradNode.NeedsInputGrad"/>). Runs with graph recording
/// off inside a fresh <see cref="TensorScope"/>; returned tensors are taken over by the engine.
/// </summary>
/// <param name="node">The node (its <see cref="GradNode.Saved"/> tensors are still alive).</param>
/// <param name="gradOutput">Gradient of the node's output (same shape as the output; may be non-contiguous).</param>
public delegate Tensor?[] BackwardFn(GradNode node, Tensor gradOutput);
