namespace Med2E3.Native.Tensors;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost scope; disposing the scope disposes them,
/// except those passed to <see cref="Keep(Tensor)"/>, which move to the enclosing scope (or to the caller when there is
/// none). Pattern: <c>using var scope = TensorScope.Begin(); … return scope.Keep(y);</c>
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    private readonly List<Tensor> _owned = [];
    private readonly TensorScope? _parent;
    private bool _disposed;

    private TensorScope(TensorScope? parent) => _parent = parent;

    /// <summary>The innermost scope of this thread, or null.</summary>
    public static TensorScope? Current => _current;

    /// <summary>Opens a scope nested in the current one.</summary>
    public static TensorScope Begin()
    {
        var s = new TensorScope(_current);
        _current = s;
        return s;
    }

    internal static void Register(Tensor t)
    {
        var s = _current;
        if (s is null) return;
        t.Scope = s;
        s._owned.Add(t);
    }

    /// <summary>Removes <paramref name="t"/> from any scope: the caller now owns it and must dispose it.</summary>
    public static Tensor Detach(Tensor t)
    {
        t.Scope = null;
        return t;
    }

    /// <summary>Lets <paramref name="t"/> outlive this scope: it moves to the parent scope, or to the caller.</summary>
    public Tensor Keep(Tensor t)
    {
        if (t.Scope == this)
        {
            t.Scope = _parent;
            _parent?._owned.Add(t);
        }
        return t;
    }

    /// <summary>Keeps several tensors (see <see cref="Keep(Tensor)"/>).</summary>
    public Tensor[] Keep(params Tensor[] ts)
    {
        foreach (var t in ts) Keep(t);
        return ts;
    }

    /// <summary>Number of tensors currently owned (diagnostics).</summary>
    public int OwnedCount => _owned.Count(t => t.Scope == this && !t.IsDisposed);

    /// <summary>Disposes every owned tensor and pops the scope.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current == this) _current = _parent;
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            var t = _owned[i];
            if (t.Scope == this)
            {
                t.Scope = null;
                t.Dispose();
            }
        }
        _owned.Clear();
    }
}
