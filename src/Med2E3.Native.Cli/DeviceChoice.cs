using Med2E3.Native.Runtime;

namespace Med2E3.Native.Cli;

/// <summary>Turns <c>--device auto|cpu|cuda</c> into the device a command runs on.</summary>
public static class DeviceChoice
{
    /// <summary>
    /// "auto" picks CUDA when a usable GPU is present, else the CPU; "cuda" without a usable GPU is an error
    /// (exit code 5) whose message says why the GPU cannot be used.
    /// </summary>
    public static string Resolve(string requested)
    {
        switch (requested)
        {
            case "cpu":
                return "cpu";
            case "auto":
                return CudaUsable(out _) ? "cuda" : "cpu";
            case "cuda":
                if (!CudaUsable(out string why))
                    throw CliException.Device($"--device cuda: {why}");
                return "cuda";
            default:
                throw CliException.Usage($"--device must be auto, cpu or cuda (got '{requested}')");
        }
    }

    static bool CudaUsable(out string why)
    {
        why = CudaRuntime.UnavailableReason ?? "";
        return CudaRuntime.IsAvailable;
    }
}
