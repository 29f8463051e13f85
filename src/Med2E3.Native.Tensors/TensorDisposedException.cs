namespace Med2E3.Native.Tensors;

/// <summary>Thrown when a disposed tensor is used.</summary>
/// <param name="what">Description of the tensor.</param>
public sealed class TensorDisposedException(string what)
    : ObjectDisposedException(nameof(Tensor), $"Tensor.cs: use of a disposed tensor {what}");
