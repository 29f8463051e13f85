namespace Med2E3.Native.Tensors;

/// <summary>Thrown when an op receives element types it cannot combine or does not accept.</summary>
/// <param name="op">Op name.</param>
/// <param name="a">First dtype (or the offending one).</param>
/// <param name="b">Second dtype (or the expected one).</param>
/// <param name="detail">Optional explanation.</param>
public sealed class DTypeMismatchException(string op, DType a, DType b, string? detail = null)
    : InvalidOperationException($"{op}: dtype mismatch {a.Name()} vs {b.Name()}" + (detail is null ? "" : $" ({detail})"))
{
    /// <summary>The op that failed.</summary>
    public string Op { get; } = op;

    /// <summary>First dtype.</summary>
    public DType DTypeA { get; } = a;

    /// <summary>Second dtype.</summary>
    public DType DTypeB { get; } = b;
}
