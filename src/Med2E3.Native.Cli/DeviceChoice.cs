using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli;

/// <summary>Turns <c>--device auto|cpu|cuda</c> into the device a command runs on.</summary>
public static class DeviceChoice
{
    /// <summary>
    /// "auto" picks CUDA when a GPU can be opened (which registers the CUDA backend of the ops), else the CPU; "cuda"
    /// without one is an error (exit code 5) whose message says why the GPU cannot be used.
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
        if (!CudaRuntime.IsAvailable)
        {
            why = CudaRuntime.UnavailableReason ?? "no CUDA device";
            return false;
        }
        try
        {
            ComputeDevice.EnsureUsable(Device.Cuda(0)); // opens the GPU and registers the CUDA backend of the ops
        }
        catch (Exception e) when (e is NotSupportedException or CudaException or CudaUnavailableException or InvalidOperationException)
        {
            why = $"the CUDA device cannot be used: {CliException.OneLine(e.Message)}";
            return false;
        }
        why = "";
        return true;
    }
}
