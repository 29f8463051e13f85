using System.Runtime.CompilerServices;
using static Med2E3.Native.Interop.Interop.Cuda;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Whether the CUDA driver is usable on this machine. <see cref="IsAvailable"/> never throws: it is false when
/// <c>libcuda</c> cannot be loaded, an entry point is missing, or <c>cuInit</c> fails (no device, driver mismatch).
/// </summary>
public static class CudaRuntime
{
    private static readonly Lazy<State> Probe = new(Initialise, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when the driver loaded, <c>cuInit</c> succeeded and at least one device exists.</summary>
    public static bool IsAvailable => Probe.Value.Available;

    /// <summary>Why CUDA is not available (null when it is).</summary>
    public static string? UnavailableReason => Probe.Value.Reason;

    /// <summary>The driver's CUDA version as reported by <c>cuDriverGetVersion</c>, e.g. 13000; 0 if unknown.</summary>
    public static int DriverVersion => Probe.Value.DriverVersion;

    /// <summary>The number of CUDA devices (0 when unavailable).</summary>
    public static int DeviceCount => Probe.Value.DeviceCount;

    /// <summary>The driver library file that was loaded, if any.</summary>
    public static string? LibraryPath => Probe.Value.LibraryPath;

    /// <summary>
    /// When the driver library is the emulated CUDA device of <c>native/emulator</c>, what it is and how it is set up
    /// (schedule, worker threads, stream mode); null for a real driver or when CUDA is not available.
    /// </summary>
    public static string? EmulatorDescription => Probe.Value.Emulator;

    /// <summary>Formats a CUDA version number such as 13000 as "13.0".</summary>
    /// <param name="version">The version as 1000·major + 10·minor.</param>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";

    /// <summary>Throws <see cref="CudaUnavailableException"/> with the reason when CUDA is not available.</summary>
    public static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new CudaUnavailableException($"CUDA is not available: {UnavailableReason}");
        }
    }

    private static State Initialise()
    {
        try
        {
            if (!CudaLibraryResolver.TryLoad(CudaLibrary.Driver, out string? path))
            {
                string searched = string.Join(", ", CudaLibraryResolver.SearchedCandidates(CudaLibrary.Driver));
                return new State(false, $"the CUDA driver library was not found (searched: {searched})", 0, 0, null, null);
            }

            return QueryDriver(path);
        }
        catch (DllNotFoundException e)
        {
            return new State(false, $"the CUDA driver library could not be loaded: {e.Message}", 0, 0, null, null);
        }
        catch (EntryPointNotFoundException e)
        {
            return new State(false, $"the CUDA driver library is missing an entry point: {e.Message}", 0, 0, null, null);
        }
    }

    // Separate and not inlined: the driver entry points are bound only once the library is known to be loaded.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static State QueryDriver(string? path)
    {
        CUresult init = cuInit(0);
        if (init != CUresult.CUDA_SUCCESS)
        {
            return new State(false, $"cuInit(0) failed with {CudaCheck.DriverErrorName(init)}", 0, 0, path, null);
        }

        CUresult versionResult = cuDriverGetVersion(out int version);
        CUresult countResult = cuDeviceGetCount(out int count);
        if (versionResult != CUresult.CUDA_SUCCESS || countResult != CUresult.CUDA_SUCCESS || count == 0)
        {
            return new State(false, "the CUDA driver reports no device", version, 0, path, null);
        }

        return new State(true, null, version, count, path, ReadEmulatorDescription());
    }

    // The emulated device exports one entry point a real driver does not have: a description of itself.
    private static unsafe string? ReadEmulatorDescription()
    {
        if (!CudaLibraryResolver.TryGetExport(CudaLibrary.Driver, "med2e3_emu_describe", out nint address))
        {
            return null;
        }

        // SAFETY: the export is `const char* med2e3_emu_describe(void)`, returning a NUL-terminated string that
        // lives as long as the library.
        byte* text = ((delegate* unmanaged<byte*>)address)();
        return text == null ? null : System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)text);
    }

    private sealed record State(
        bool Available, string? Reason, int DriverVersion, int DeviceCount, string? LibraryPath, string? Emulator);
}
