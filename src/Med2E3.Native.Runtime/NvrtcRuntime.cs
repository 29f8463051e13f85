using System.Runtime.CompilerServices;
using static Med2E3.Native.Interop.Interop.Nvrtc;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Whether NVRTC (the runtime compiler) is usable. It needs no driver or GPU, so kernels can be compiled and checked
/// on any machine with the library. <see cref="IsAvailable"/> never throws.
/// </summary>
public static class NvrtcRuntime
{
    private static readonly Lazy<State> Probe = new(Initialise, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when an NVRTC library loaded and answered <c>nvrtcVersion</c>.</summary>
    public static bool IsAvailable => Probe.Value.Available;

    /// <summary>Why NVRTC is not available (null when it is).</summary>
    public static string? UnavailableReason => Probe.Value.Reason;

    /// <summary>The NVRTC version, e.g. 11.8 or 13.0 (0.0 when unavailable).</summary>
    public static Version Version => Probe.Value.Version;

    /// <summary>The real architectures this NVRTC can target, e.g. 80 for sm_80, ascending.</summary>
    public static IReadOnlyList<int> SupportedArchs => Probe.Value.SupportedArchs;

    /// <summary>The NVRTC library file that was loaded, if any.</summary>
    public static string? LibraryPath => Probe.Value.LibraryPath;

    /// <summary>Throws <see cref="CudaUnavailableException"/> with the reason when NVRTC is not available.</summary>
    public static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new CudaUnavailableException($"NVRTC is not available: {UnavailableReason}");
        }
    }

    private static State Initialise()
    {
        try
        {
            if (!CudaLibraryResolver.TryLoad(CudaLibrary.Nvrtc, out string? path))
            {
                string searched = string.Join(", ", CudaLibraryResolver.SearchedCandidates(CudaLibrary.Nvrtc));
                return new State(false, $"no NVRTC library was found (searched: {searched})", new Version(0, 0), [], null);
            }

            return QueryNvrtc(path);
        }
        catch (DllNotFoundException e)
        {
            return new State(false, $"the NVRTC library could not be loaded: {e.Message}", new Version(0, 0), [], null);
        }
        catch (EntryPointNotFoundException e)
        {
            return new State(false, $"the NVRTC library is missing an entry point: {e.Message}", new Version(0, 0), [], null);
        }
        catch (CudaException e)
        {
            return new State(false, e.Message, new Version(0, 0), [], null);
        }
    }

    // Separate and not inlined: the NVRTC entry points are bound only once the library is known to be loaded.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe State QueryNvrtc(string? path)
    {
        CudaCheck.Check(nvrtcVersion(out int major, out int minor));
        int[] archs = [];
        try
        {
            CudaCheck.Check(nvrtcGetNumSupportedArchs(out int count));
            archs = new int[count];
            fixed (int* p = archs)
            {
                CudaCheck.Check(nvrtcGetSupportedArchs(p));
            }

            Array.Sort(archs);
        }
        catch (EntryPointNotFoundException)
        {
            // NVRTC before 11.2 cannot list its targets; compile attempts will tell.
        }

        return new State(true, null, new Version(major, minor), archs, path);
    }

    private sealed record State(bool Available, string? Reason, Version Version, int[] SupportedArchs, string? LibraryPath);
}
