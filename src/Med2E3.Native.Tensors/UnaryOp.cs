namespace Med2E3.Native.Tensors;

/// <summary>Element-wise unary functions understood by <see cref="IBackend.Unary"/>.</summary>
public enum UnaryOp
{
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
    /// <summary>x·Φ(x) with Φ from erf.</summary>
    Gelu,
    /// <summary>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    GeluTanh,
    /// <summary>x·σ(x).</summary>
    Silu,
}
