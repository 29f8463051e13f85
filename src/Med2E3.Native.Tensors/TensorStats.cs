namespace Med2E3.Native.Tensors;

/// <summary>Counters of live tensors, for leak assertions in tests.</summary>
public static class TensorStats
{
    private static long _live;
    private static long _created;
    private static long _finalizedLeaks;
    private static readonly AsyncLocal<LeakTracker?> CurrentTracker = new();

    /// <summary>Tensors created and not yet disposed, process-wide (all threads).</summary>
    public static long Live => Interlocked.Read(ref _live);

    /// <summary>Tensors created since start.</summary>
    public static long Created => Interlocked.Read(ref _created);

    /// <summary>Tensors the GC finalized without a Dispose (Debug builds only).</summary>
    public static long FinalizedLeaks => Interlocked.Read(ref _finalizedLeaks);

    /// <summary>
    /// Starts counting the tensors created in this async flow (and its callees) until disposed, independent of
    /// other threads: <c>using var leaks = TensorStats.Track(); … Assert.Equal(0, leaks.Live);</c>
    /// </summary>
    public static LeakTracker Track()
    {
        var t = new LeakTracker(CurrentTracker.Value);
        CurrentTracker.Value = t;
        return t;
    }

    internal static void EndTracking(LeakTracker t)
    {
        if (CurrentTracker.Value == t) CurrentTracker.Value = t.Parent;
    }

    internal static LeakTracker? OnCreate()
    {
        Interlocked.Increment(ref _live);
        Interlocked.Increment(ref _created);
        var t = CurrentTracker.Value;
        for (var p = t; p is not null; p = p.Parent) p.Increment();
        return t;
    }

    internal static void OnDispose(LeakTracker? t)
    {
        Interlocked.Decrement(ref _live);
        for (var p = t; p is not null; p = p.Parent) p.Decrement();
    }

    internal static void OnFinalizedLeak() => Interlocked.Increment(ref _finalizedLeaks);
}
