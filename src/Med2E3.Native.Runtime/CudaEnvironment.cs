namespace Med2E3.Native.Runtime;

/// <summary>A human-readable summary of the CUDA driver, devices and libraries found on this machine.</summary>
public static class CudaEnvironment
{
    /// <summary>
    /// One line per item: driver, each device, NVRTC, cuBLAS and the kernel cache folder. Never throws; a missing
    /// piece is reported with the reason.
    /// </summary>
    public static IReadOnlyList<string> Describe()
    {
        var lines = new List<string>();
        if (CudaRuntime.IsAvailable)
        {
            lines.Add($"driver      CUDA {CudaRuntime.FormatVersion(CudaRuntime.DriverVersion)} ({CudaRuntime.LibraryPath}), "
                + $"{CudaRuntime.DeviceCount} device(s)");
            if (CudaRuntime.EmulatorDescription is { } emulator)
            {
                lines.Add($"emulated    yes, no GPU: the kernels run on the CPU in {emulator}");
            }

            for (int i = 0; i < CudaRuntime.DeviceCount; i++)
            {
                try
                {
                    using CudaDevice device = CudaDevice.Open(i);
                    (long free, long total) = device.GetMemoryInfo();
                    lines.Add($"device {i}    {device.Name}, {device.Arch}, {device.SmCount} SMs, "
                        + $"{total / (double)(1L << 30):F1} GiB ({free / (double)(1L << 30):F1} GiB free), "
                        + $"smem/block {device.MaxSharedMemoryPerBlock / 1024} KiB ({device.MaxSharedMemoryPerBlockOptin / 1024} KiB opt-in), "
                        + $"L2 {device.L2CacheBytes >> 20} MiB");
                }
                catch (Exception e) when (e is CudaException or CudaUnavailableException)
                {
                    lines.Add($"device {i}    cannot be opened: {e.Message}");
                }
            }
        }
        else
        {
            lines.Add($"driver      not available: {CudaRuntime.UnavailableReason}");
        }

        if (NvrtcRuntime.IsAvailable)
        {
            IReadOnlyList<int> archs = NvrtcRuntime.SupportedArchs;
            string targets = archs.Count == 0 ? "targets unknown" : $"targets sm_{archs[0]} … sm_{archs[^1]}";
            lines.Add($"NVRTC       {NvrtcRuntime.Version} ({NvrtcRuntime.LibraryPath}), {targets}");
        }
        else
        {
            lines.Add($"NVRTC       not available: {NvrtcRuntime.UnavailableReason}");
        }

        lines.Add(CublasRuntime.IsAvailable
            ? $"cuBLAS      {CublasRuntime.FormatVersion(CublasRuntime.Version)} ({CublasRuntime.LibraryPath}; {CublasRuntime.LtLibraryPath})"
            : $"cuBLAS      not available: {CublasRuntime.UnavailableReason}");
        lines.Add($"kernels     {KernelSources.Files.Count} files embedded, cache {RuntimeOptions.KernelCacheDirectory}");
        return lines;
    }
}
