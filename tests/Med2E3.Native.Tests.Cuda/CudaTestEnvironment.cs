using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>Whether GPU tests can run here, and why not.</summary>
public static class CudaTestEnvironment
{
    /// <summary>True when a CUDA device and NVRTC are both usable.</summary>
    public static bool IsAvailable => CudaRuntime.IsAvailable && NvrtcRuntime.IsAvailable;

    /// <summary>The reason GPU tests are skipped (null when they run).</summary>
    public static string? SkipReason =>
        !CudaRuntime.IsAvailable ? $"no CUDA device: {CudaRuntime.UnavailableReason}"
        : !NvrtcRuntime.IsAvailable ? $"no NVRTC: {NvrtcRuntime.UnavailableReason}"
        : null;
}
