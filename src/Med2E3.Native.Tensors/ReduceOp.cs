namespace Med2E3.Native.Tensors;

/// <summary>Reductions understood by <see cref="IBackend.Reduce"/>.</summary>
public enum ReduceOp
{
    /// <summary>Σ.</summary>
    Sum,
    /// <summary>Σ / n.</summary>
    Mean,
}
