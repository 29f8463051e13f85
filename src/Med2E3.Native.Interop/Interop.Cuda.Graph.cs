using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamBeginCapture_v2")]
        internal static partial CUresult cuStreamBeginCapture(nint hStream, CUstreamCaptureMode mode);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamEndCapture")]
        internal static partial CUresult cuStreamEndCapture(nint hStream, out nint phGraph);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuStreamIsCapturing")]
        internal static partial CUresult cuStreamIsCapturing(nint hStream, out CUstreamCaptureStatus captureStatus);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGraphInstantiateWithFlags")]
        internal static partial CUresult cuGraphInstantiateWithFlags(out nint phGraphExec, nint hGraph, ulong flags);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGraphLaunch")]
        internal static partial CUresult cuGraphLaunch(nint hGraphExec, nint hStream);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGraphExecDestroy")]
        internal static partial CUresult cuGraphExecDestroy(nint hGraphExec);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGraphDestroy")]
        internal static partial CUresult cuGraphDestroy(nint hGraph);

        [LibraryImport(Libraries.Cuda, EntryPoint = "cuGraphGetNodes")]
        internal static unsafe partial CUresult cuGraphGetNodes(nint hGraph, nint* nodes, ref nuint numNodes);
    }
}
