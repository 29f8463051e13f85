namespace Med2E3.Native.Tensors;

/// <summary>Element-wise binary functions understood by <see cref="IBackend.Binary"/>.</summary>
public enum BinaryOp
{
    /// <summary>a + b.</summary>
    Add,
    /// <summary>a − b.</summary>
    Sub,
    /// <summary>a · b.</summary>
    Mul,
    /// <summary>a / b.</summary>
    Div,
}
