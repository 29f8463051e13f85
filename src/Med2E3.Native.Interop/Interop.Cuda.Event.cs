using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventCreate")]
        internal static partial CUresult cuEventCreate(out nint phEvent, CUevent_flags flags);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventDestroy_v2")]
        internal static partial CUresult cuEventDestroy(nint hEvent);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventRecord")]
        internal static partial CUresult cuEventRecord(nint hEvent, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventSynchronize")]
        internal static partial CUresult cuEventSynchronize(nint hEvent);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventQuery")]
        internal static partial CUresult cuEventQuery(nint hEvent);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuEventElapsedTime")]
        internal static partial CUresult cuEventElapsedTime(out float pMilliseconds, nint hStart, nint hEnd);
    }
}
