using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemAlloc_v2")]
        internal static partial CUresult cuMemAlloc(out ulong dptr, nuint bytesize);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemFree_v2")]
        internal static partial CUresult cuMemFree(ulong dptr);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemGetInfo_v2")]
        internal static partial CUresult cuMemGetInfo(out nuint free, out nuint total);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemHostAlloc")]
        internal static partial CUresult cuMemHostAlloc(out nint pp, nuint bytesize, uint flags);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemFreeHost")]
        internal static partial CUresult cuMemFreeHost(nint p);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemcpyHtoDAsync_v2")]
        internal static partial CUresult cuMemcpyHtoDAsync(ulong dstDevice, nint srcHost, nuint byteCount, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemcpyDtoHAsync_v2")]
        internal static partial CUresult cuMemcpyDtoHAsync(nint dstHost, ulong srcDevice, nuint byteCount, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemcpyDtoDAsync_v2")]
        internal static partial CUresult cuMemcpyDtoDAsync(ulong dstDevice, ulong srcDevice, nuint byteCount, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemsetD8Async")]
        internal static partial CUresult cuMemsetD8Async(ulong dstDevice, byte uc, nuint n, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuMemsetD32Async")]
        internal static partial CUresult cuMemsetD32Async(ulong dstDevice, uint ui, nuint n, nint hStream);
    }
}
