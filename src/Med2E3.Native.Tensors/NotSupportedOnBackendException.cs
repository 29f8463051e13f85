namespace Med2E3.Native.Tensors;

/// <summary>Thrown before dispatch when a backend does not implement an op for a dtype.</summary>
/// <param name="backend">Backend name.</param>
/// <param name="op">The op.</param>
/// <param name="dtype">The dtype asked for.</param>
/// <param name="detail">Optional explanation.</param>
public sealed class NotSupportedOnBackendException(string backend, OpKind op, DType dtype, string? detail = null)
    : NotSupportedException($"{backend}: {op} is not supported for {dtype.Name()}" + (detail is null ? "" : $" ({detail})"))
{
    /// <summary>Backend name.</summary>
    public string Backend { get; } = backend;

    /// <summary>The op.</summary>
    public OpKind Op { get; } = op;

    /// <summary>The dtype.</summary>
    public DType DType { get; } = dtype;
}
