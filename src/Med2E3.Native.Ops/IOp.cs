using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops;

/// <summary>Description of one registered op: where its CPU reference and backward live, and its CUDA variants.</summary>
public interface IOp
{
    /// <summary>The op.</summary>
    OpKind Kind { get; }

    /// <summary>Name used by <c>F</c> and in messages.</summary>
    string Name { get; }

    /// <summary>Source file of the CPU reference and backward, e.g. "src/Med2E3.Native.Ops/Ops/LayerNorm.cs".</summary>
    string Family { get; }

    /// <summary>True when the op is differentiable (has a backward and a gradient check).</summary>
    bool HasBackward { get; }

    /// <summary>True when the CPU backend has an optimised path besides the reference loops.</summary>
    bool HasFastCpuPath { get; }

    /// <summary>
    /// Points where the op is not differentiable (e.g. "x = 0" for ReLU); gradient checks keep inputs away from them.
    /// Null when smooth.
    /// </summary>
    string? Kinks { get; }

    /// <summary>CUDA kernel variants in order of increasing cleverness (empty until kernels exist).</summary>
    IReadOnlyList<string> CudaVariants { get; }

    /// <summary>The CUDA variant the registry launches, or null.</summary>
    string? DefaultCudaVariant { get; }
}
