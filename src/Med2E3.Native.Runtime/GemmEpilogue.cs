namespace Med2E3.Native.Runtime;

/// <summary>What cuBLASLt applies to the product before storing it.</summary>
public enum GemmEpilogue
{
    /// <summary>Nothing: y = x·Wᵀ.</summary>
    None,

    /// <summary>Add a bias per output feature: y = x·Wᵀ + b.</summary>
    Bias,

    /// <summary>
    /// Bias then GELU: y = gelu(x·Wᵀ + b). cuBLASLt uses the tanh approximation of GELU, not the erf form.
    /// </summary>
    GeluBias,
}
