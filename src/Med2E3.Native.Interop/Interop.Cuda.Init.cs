using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuInit")]
        internal static partial CUresult cuInit(uint flags);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDriverGetVersion")]
        [SuppressGCTransition]
        internal static partial CUresult cuDriverGetVersion(out int driverVersion);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGetErrorName")]
        [SuppressGCTransition]
        internal static unsafe partial CUresult cuGetErrorName(CUresult error, byte** pStr);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGetErrorString")]
        [SuppressGCTransition]
        internal static unsafe partial CUresult cuGetErrorString(CUresult error, byte** pStr);
    }
}
