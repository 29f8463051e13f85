namespace Med2E3.Native.Tensors;

/// <summary>Counts the tensors created while it is active that are still alive. See <see cref="TensorStats.Track"/>.</summary>
public sealed class LeakTracker : IDisposable
{
    private long _live;

    internal LeakTracker(LeakTracker? parent) => Parent = parent;

    internal LeakTracker? Parent { get; }

    /// <summary>Tensors created under this tracker and not yet disposed.</summary>
    public long Live => Interlocked.Read(ref _live);

    internal void Increment() => Interlocked.Increment(ref _live);

    internal void Decrement() => Interlocked.Decrement(ref _live);

    /// <summary>Stops tracking new tensors (already-counted ones keep decrementing on dispose).</summary>
    public void Dispose() => TensorStats.EndTracking(this);
}
