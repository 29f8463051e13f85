using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// A CUDA graph captured from a stream and instantiated once; launching it replays every captured kernel and copy
/// with one call. Buffers used during capture are baked into the graph by address and must stay alive (not returned
/// to the pool) for as long as the graph is launched.
/// </summary>
public sealed class CudaGraph : IDisposable
{
    private readonly SafeCudaGraphExecHandle _exec;

    private CudaGraph(CudaDevice device, SafeCudaGraphExecHandle exec, int nodeCount)
    {
        Device = device;
        _exec = exec;
        NodeCount = nodeCount;
    }

    /// <summary>The device the graph runs on.</summary>
    public CudaDevice Device { get; }

    /// <summary>Number of nodes (kernels, copies, memsets) captured.</summary>
    public int NodeCount { get; }

    /// <summary>
    /// Records what <paramref name="record"/> queues on <paramref name="stream"/> into a graph and instantiates it.
    /// The work is not executed during capture. Capture uses the relaxed mode so that the memory pool may still
    /// allocate; copies from pageable host memory are not allowed inside a capture.
    /// </summary>
    /// <param name="stream">The stream to capture (not the legacy default stream).</param>
    /// <param name="record">Queues the work, on the stream it is given.</param>
    public static unsafe CudaGraph Capture(CudaStream stream, Action<CudaStream> record)
    {
        CudaDevice device = stream.Device;
        device.MakeCurrent();
        Check(cuStreamBeginCapture(stream.Handle, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED));
        stream.IsCapturing = true;
        nint graph = 0;
        try
        {
            record(stream);
        }
        catch
        {
            // End the capture so the stream is usable again, then report the original error.
            stream.IsCapturing = false;
            if (cuStreamEndCapture(stream.Handle, out nint broken) == CUresult.CUDA_SUCCESS && broken != 0)
            {
                _ = cuGraphDestroy(broken);
            }

            throw;
        }

        stream.IsCapturing = false;
        Check(cuStreamEndCapture(stream.Handle, out graph));
        var graphHandle = new SafeCudaGraphHandle();
        graphHandle.DangerousAttach(graph);
        using (graphHandle)
        {
            nuint nodes = 0;
            Check(cuGraphGetNodes(graph, null, ref nodes));
            Check(cuGraphInstantiateWithFlags(out nint exec, graph, 0));
            var execHandle = new SafeCudaGraphExecHandle();
            execHandle.DangerousAttach(exec);
            var result = new CudaGraph(device, execHandle, (int)nodes);
            device.Track(result);
            return result;
        }
    }

    /// <summary>Queues one replay of the graph on <paramref name="stream"/>.</summary>
    /// <param name="stream">The stream to launch on.</param>
    public void Launch(CudaStream stream)
    {
        ObjectDisposedException.ThrowIf(_exec.IsClosed, this);
        Device.MakeCurrent();
        Check(cuGraphLaunch(_exec.DangerousGetHandle(), stream.Handle));
    }

    /// <summary>Destroys the instantiated graph.</summary>
    public void Dispose()
    {
        if (!_exec.IsClosed)
        {
            Device.Untrack(this);
            _exec.Dispose();
        }
    }
}
