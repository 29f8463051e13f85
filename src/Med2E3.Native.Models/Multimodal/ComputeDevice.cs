using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>Maps a device name to a <see cref="Device"/> and makes sure a backend runs on it.</summary>
public static class ComputeDevice
{
    private static readonly Lock Gate = new();

    // The CUDA device opened for the backend lives as long as the process: every tensor on it, including the
    // weights of any loaded model, uses its memory pool and stream.
    private static CudaDevice? _cudaDevice;

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

    /// <summary>
    /// For a CUDA device: opens it and registers the CUDA backend on first use (one CUDA device per process).
    /// Throws <see cref="DeviceUnavailableException"/> with the reason when that is impossible (no driver, no such device,
    /// another device already in use).
    /// </summary>
    public static void EnsureUsable(Device device)
    {
        if (device.Kind == DeviceKind.Cpu) return;
        lock (Gate)
        {
            if (_cudaDevice is { } open)
            {
                if (open.Ordinal != device.Ordinal)
                {
                    throw new DeviceUnavailableException($"device {device}: this process already runs on cuda:{open.Ordinal}");
                }
                return;
            }
            if (Backends.IsRegistered(DeviceKind.Cuda)) return;     // registered by the host application
            if (!CudaRuntime.IsAvailable)
            {
                throw new DeviceUnavailableException($"device {device}: {CudaRuntime.UnavailableReason}");
            }
            if (device.Ordinal >= CudaRuntime.DeviceCount)
            {
                throw new DeviceUnavailableException($"device {device} does not exist; this machine has {CudaRuntime.DeviceCount}");
            }
            _cudaDevice = CudaDevice.Open(device.Ordinal);
            CudaBackend.Register(_cudaDevice);
        }
    }
}
