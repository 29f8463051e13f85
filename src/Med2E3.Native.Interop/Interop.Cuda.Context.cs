using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDevicePrimaryCtxRetain")]
        internal static partial CUresult cuDevicePrimaryCtxRetain(out nint pctx, int dev);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
        internal static partial CUresult cuDevicePrimaryCtxRelease(int dev);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuCtxSetCurrent")]
        internal static partial CUresult cuCtxSetCurrent(nint ctx);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuCtxGetCurrent")]
        [SuppressGCTransition]
        internal static partial CUresult cuCtxGetCurrent(out nint pctx);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuCtxSynchronize")]
        internal static partial CUresult cuCtxSynchronize();
    }
}
