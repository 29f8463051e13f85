using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>Maps a device name to a <see cref="Device"/> and checks that a backend can run on it.</summary>
public static class ComputeDevice
{
    /// <summary>"cpu" → CPU; "cuda" or "cuda:N" → CUDA device N.</summary>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static Device Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return Device.Cpu;
        if (n == "cuda" || n == "gpu") return Device.Cuda(0);
        if (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n[5..], out int ordinal) && ordinal >= 0)
        {
            return Device.Cuda(ordinal);
        }
        throw new ArgumentException($"ComputeDevice.cs: unknown device '{name}' (expected cpu, cuda or cuda:N)", nameof(name));
    }

    /// <summary>Throws <see cref="NotSupportedException"/> with the reason when no backend runs on <paramref name="device"/>.</summary>
    public static void EnsureUsable(Device device)
    {
        if (device.Kind == DeviceKind.Cpu) return;
        if (Backends.IsRegistered(device.Kind)) return;
        string why = CudaRuntime.IsAvailable
            ? "no CUDA backend is registered (register one before loading the model)"
            : "no CUDA backend is registered: " + CudaRuntime.UnavailableReason;
        throw new NotSupportedException($"ComputeDevice.cs: device {device}: {why}");
    }
}
