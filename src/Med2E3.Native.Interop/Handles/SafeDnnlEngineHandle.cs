using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>A oneDNN engine (<c>dnnl_engine_t</c>), destroyed with <c>dnnl_engine_destroy</c>.</summary>
/// <remarks>oneDNN objects live in host memory only, so the finalizer may release a handle its owner forgot.</remarks>
internal sealed class SafeDnnlEngineHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafeDnnlEngineHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a raw native handle just returned by its create call.</summary>
    internal void DangerousAttach(nint raw) => SetHandle(raw);

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.Dnnl.dnnl_engine_destroy(handle) == Interop.Dnnl.dnnl_status_t.dnnl_success;
}
