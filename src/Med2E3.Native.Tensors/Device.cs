namespace Med2E3.Native.Tensors;

/// <summary>A device: kind plus ordinal (always 0 for the CPU).</summary>
/// <param name="Kind">CPU or CUDA.</param>
/// <param name="Ordinal">CUDA device ordinal; 0 for the CPU.</param>
public readonly record struct Device(DeviceKind Kind, int Ordinal)
{
    /// <summary>The host.</summary>
    public static Device Cpu => new(DeviceKind.Cpu, 0);

    /// <summary>CUDA device <paramref name="ordinal"/>.</summary>
    public static Device Cuda(int ordinal = 0) => new(DeviceKind.Cuda, ordinal);

    /// <summary>"cpu" or "cuda:N".</summary>
    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Ordinal}";
}
