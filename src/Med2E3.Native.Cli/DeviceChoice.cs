using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli;

/// <summary>Turns <c>--device auto|cpu|cuda</c> into the device a command runs on.</summary>
public static class DeviceChoice
{
    /// <summary>
    /// "auto" picks CUDA when a GPU and a CUDA backend for the ops are present, else the CPU; "cuda" without them is
    /// an error (exit code 5) whose message says why the GPU cannot be used.
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
            ComputeDevice.EnsureUsable(Device.Cuda(0));
        }
        catch (NotSupportedException)
        {
            why = $"a CUDA device is present ({CudaRuntime.DeviceCount} found), but this build has no CUDA backend for the model's ops; use --device cpu";
            return false;
        }
        why = "";
        return true;
    }
}
