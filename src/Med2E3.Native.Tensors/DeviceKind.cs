namespace Med2E3.Native.Tensors;

/// <summary>Kind of device a tensor lives on.</summary>
public enum DeviceKind
{
    /// <summary>Host memory.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through the CUDA driver API.</summary>
    Cuda,
}
