namespace Med2E3.Native.Tensors;

/// <summary>
/// Disables (or re-enables) graph recording on this thread until disposed:
/// <c>using var _ = new NoGradScope();</c>. Inference code runs inside one.
/// </summary>
public sealed class NoGradScope : IDisposable
{
    [ThreadStatic] private static bool _disabled;
    private readonly bool _previous;
    private bool _disposed;

    /// <summary>Disables recording.</summary>
    public NoGradScope() : this(false)
    {
    }

    private NoGradScope(bool enable)
    {
        _previous = _disabled;
        _disabled = !enable;
    }

    /// <summary>Re-enables recording inside an outer no-grad region (used by checkpoint recomputation).</summary>
    public static NoGradScope EnableGrad() => new(true);

    /// <summary>True when ops record autograd nodes on this thread.</summary>
    public static bool IsGradEnabled => !_disabled;

    /// <summary>Restores the previous mode.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _disabled = _previous;
    }
}
