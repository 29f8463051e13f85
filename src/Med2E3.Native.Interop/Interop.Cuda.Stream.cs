using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamCreate")]
        internal static partial CUresult cuStreamCreate(out nint phStream, CUstream_flags flags);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamDestroy_v2")]
        internal static partial CUresult cuStreamDestroy(nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamSynchronize")]
        internal static partial CUresult cuStreamSynchronize(nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamQuery")]
        internal static partial CUresult cuStreamQuery(nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamWaitEvent")]
        internal static partial CUresult cuStreamWaitEvent(nint hStream, nint hEvent, uint flags);
    }
}
