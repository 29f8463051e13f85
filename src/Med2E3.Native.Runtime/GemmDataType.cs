namespace Med2E3.Native.Runtime;

/// <summary>Element type of the A, B and C matrices of a GEMM; accumulation is always f32.</summary>
public enum GemmDataType
{
    /// <summary>32-bit float inputs and output; true f32 math unless <see cref="Cublas.AllowTf32"/> is set.</summary>
    F32,

    /// <summary>bfloat16 inputs and output, f32 accumulation.</summary>
    BF16,

    /// <summary>IEEE half inputs and output, f32 accumulation.</summary>
    F16,
}
