namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    /// <summary>
    /// Logical library names used by the imports. The resolver in <c>Med2E3.Native.Runtime</c> maps each one to the
    /// real file for the operating system and the installed CUDA version (<c>libcuda.so.1</c>, <c>nvcuda.dll</c>, …).
    /// </summary>
    internal static class Libraries
    {
        /// <summary>The CUDA driver API (<c>libcuda.so.1</c> / <c>nvcuda.dll</c>).</summary>
        internal const string Cuda = "med2e3-cuda";

        /// <summary>The runtime compiler (<c>libnvrtc.so.13</c> … / <c>nvrtc64_130_0.dll</c> …).</summary>
        internal const string Nvrtc = "med2e3-nvrtc";

        /// <summary>cuBLAS (<c>libcublas.so.13</c> … / <c>cublas64_13.dll</c> …).</summary>
        internal const string Cublas = "med2e3-cublas";

        /// <summary>cuBLASLt (<c>libcublasLt.so.13</c> … / <c>cublasLt64_13.dll</c> …).</summary>
        internal const string CublasLt = "med2e3-cublaslt";

        /// <summary>oneDNN 2.x (<c>libdnnl.so.2</c> / <c>dnnl.dll</c>), optional: the bf16 CPU matrix products.</summary>
        internal const string Dnnl = "med2e3-dnnl";
    }
}
