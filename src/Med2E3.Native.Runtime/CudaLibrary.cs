namespace Med2E3.Native.Runtime;

/// <summary>The native NVIDIA libraries this project loads at run time.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API: <c>libcuda.so.1</c> or <c>nvcuda.dll</c>.</summary>
    Driver,

    /// <summary>The runtime compiler: <c>libnvrtc.so.13</c> (or .12, .11.2) or <c>nvrtc64_130_0.dll</c> ….</summary>
    Nvrtc,

    /// <summary>cuBLAS: <c>libcublas.so.13</c> (or .12, .11) or <c>cublas64_13.dll</c> ….</summary>
    Cublas,

    /// <summary>cuBLASLt: <c>libcublasLt.so.13</c> (or .12, .11) or <c>cublasLt64_13.dll</c> ….</summary>
    CublasLt,
}
