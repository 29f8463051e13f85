using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuModuleLoadData")]
        internal static unsafe partial CUresult cuModuleLoadData(out nint module, byte* image);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuModuleUnload")]
        internal static partial CUresult cuModuleUnload(nint hmod);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuModuleGetFunction")]
        internal static unsafe partial CUresult cuModuleGetFunction(out nint hfunc, nint hmod, byte* name);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuFuncGetAttribute")]
        [SuppressGCTransition]
        internal static partial CUresult cuFuncGetAttribute(out int pi, CUfunction_attribute attrib, nint hfunc);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuFuncSetAttribute")]
        internal static partial CUresult cuFuncSetAttribute(nint hfunc, CUfunction_attribute attrib, int value);
    }
}
