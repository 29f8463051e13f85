using System.Collections.Concurrent;

namespace Med2E3.Native.Runtime;

/// <summary>
/// How many times each kernel was launched in this process: every <see cref="CudaKernel"/> launch that the driver
/// accepted (launches recorded into a graph included), by kernel file and name. The CUDA test suite uses it to check
/// that every kernel of <c>kernels/*.cu</c> runs at least once (the kernel census).
/// </summary>
public static class KernelCensus
{
    private static readonly ConcurrentDictionary<(string File, string Kernel), long> Counts = new();

    /// <summary>Launches of <paramref name="kernel"/> from <paramref name="file"/> so far.</summary>
    /// <param name="file">The kernel file, e.g. "elementwise.cu".</param>
    /// <param name="kernel">The <c>extern "C"</c> name.</param>
    public static long Launches(string file, string kernel) => Counts.TryGetValue((file, kernel), out long n) ? n : 0;

    /// <summary>Every kernel launched so far, with its launch count.</summary>
    public static IReadOnlyDictionary<(string File, string Kernel), long> Snapshot() => new Dictionary<(string, string), long>(Counts);

    internal static void Record(string file, string kernel) => Counts.AddOrUpdate((file, kernel), 1, static (_, n) => n + 1);
}
