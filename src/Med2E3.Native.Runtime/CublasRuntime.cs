using System.Runtime.CompilerServices;
using static Med2E3.Native.Interop.Interop.CublasLt;

namespace Med2E3.Native.Runtime;

/// <summary>Whether cuBLAS and cuBLASLt can be loaded (a device is still needed to use them). Never throws.</summary>
public static class CublasRuntime
{
    private static readonly Lazy<State> Probe = new(Initialise, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when both cuBLAS and cuBLASLt loaded.</summary>
    public static bool IsAvailable => Probe.Value.Available;

    /// <summary>Why cuBLAS is not available (null when it is).</summary>
    public static string? UnavailableReason => Probe.Value.Reason;

    /// <summary>The cuBLASLt version number, e.g. 130000 for 13.0.0 (0 when unavailable).</summary>
    public static long Version => Probe.Value.Version;

    /// <summary>The cuBLAS library file that was loaded, if any.</summary>
    public static string? LibraryPath => Probe.Value.CublasPath;

    /// <summary>The cuBLASLt library file that was loaded, if any.</summary>
    public static string? LtLibraryPath => Probe.Value.LtPath;

    /// <summary>Formats a cuBLAS version number such as 130100 as "13.1.0".</summary>
    /// <param name="version">The version as 10000·major + 100·minor + patch.</param>
    public static string FormatVersion(long version) => $"{version / 10000}.{version % 10000 / 100}.{version % 100}";

    private static State Initialise()
    {
        try
        {
            bool cublas = CudaLibraryResolver.TryLoad(CudaLibrary.Cublas, out string? cublasPath);
            bool lt = CudaLibraryResolver.TryLoad(CudaLibrary.CublasLt, out string? ltPath);
            if (!cublas || !lt)
            {
                string missing = !cublas ? "cuBLAS" : "cuBLASLt";
                return new State(false, $"{missing} was not found", 0, cublasPath, ltPath);
            }

            return new State(true, null, LtVersion(), cublasPath, ltPath);
        }
        catch (DllNotFoundException e)
        {
            return new State(false, e.Message, 0, null, null);
        }
        catch (EntryPointNotFoundException e)
        {
            return new State(false, e.Message, 0, null, null);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long LtVersion() => (long)cublasLtGetVersion();

    private sealed record State(bool Available, string? Reason, long Version, string? CublasPath, string? LtPath);
}
