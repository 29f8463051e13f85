using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuLaunchKernel")]
        internal static unsafe partial CUresult cuLaunchKernel(
            nint f,
            uint gridDimX, uint gridDimY, uint gridDimZ,
            uint blockDimX, uint blockDimY, uint blockDimZ,
            uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);
    }
}
