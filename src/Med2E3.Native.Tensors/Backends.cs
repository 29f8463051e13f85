namespace Med2E3.Native.Tensors;

/// <summary>Registry of backends by device kind. The Ops project registers the CPU and CUDA backends.</summary>
public static class Backends
{
    private static IBackend? _cpu;
    private static IBackend? _cuda;

    /// <summary>Registers (or replaces) the backend for its <see cref="IBackend.DeviceKind"/>.</summary>
    public static void Register(IBackend backend)
    {
        if (backend.DeviceKind == DeviceKind.Cpu) _cpu = backend;
        else _cuda = backend;
    }

    /// <summary>True when a backend for <paramref name="kind"/> is registered.</summary>
    public static bool IsRegistered(DeviceKind kind) => (kind == DeviceKind.Cpu ? _cpu : _cuda) is not null;

    /// <summary>The backend for <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedOnBackendException">No backend is registered for that device kind.</exception>
    public static IBackend For(Device device)
    {
        var b = device.Kind == DeviceKind.Cpu ? _cpu : _cuda;
        return b ?? throw new NotSupportedOnBackendException(device.ToString(), OpKind.Copy, DType.F32,
            device.Kind == DeviceKind.Cuda
                ? "no CUDA backend registered (no device, or the CUDA backend is not built yet)"
                : "no CPU backend registered: call Med2E3.Native.Ops.CpuBackend.EnsureRegistered()");
    }

    /// <summary>The CPU backend if registered, else null (Tensors falls back to its own loops).</summary>
    internal static IBackend? Cpu => _cpu;
}
