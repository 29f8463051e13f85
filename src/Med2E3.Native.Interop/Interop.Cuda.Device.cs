using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDeviceGetCount")]
        [SuppressGCTransition]
        internal static partial CUresult cuDeviceGetCount(out int count);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDeviceGet")]
        [SuppressGCTransition]
        internal static partial CUresult cuDeviceGet(out int device, int ordinal);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDeviceGetName")]
        internal static unsafe partial CUresult cuDeviceGetName(byte* name, int len, int dev);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDeviceGetAttribute")]
        [SuppressGCTransition]
        internal static partial CUresult cuDeviceGetAttribute(out int pi, CUdevice_attribute attrib, int dev);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuDeviceTotalMem_v2")]
        internal static partial CUresult cuDeviceTotalMem(out nuint bytes, int dev);
    }
}
