namespace Med2E3.Native.Ops.Cpu;

/// <summary>Chunked Parallel.For over [0, n) that stays on the calling thread for small work.</summary>
public static class Par
{
    /// <summary>Runs <paramref name="body"/>(start, end) over chunks of at least <paramref name="grain"/> items.</summary>
    public static void For(long n, long grain, Action<long, long> body)
    {
        if (n <= 0) return;
        int workers = Environment.ProcessorCount;
        if (n <= grain || workers == 1)
        {
            body(0, n);
            return;
        }
        long chunks = Math.Min(n / Math.Max(grain, 1), workers * 4L);
        chunks = Math.Max(chunks, 1);
        Parallel.For(0, chunks, c => body(n * c / chunks, n * (c + 1) / chunks));
    }
}
