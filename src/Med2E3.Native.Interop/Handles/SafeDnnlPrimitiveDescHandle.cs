using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>A oneDNN primitive descriptor (<c>dnnl_primitive_desc_t</c>), destroyed with <c>dnnl_primitive_desc_destroy</c>.</summary>
/// <remarks>oneDNN objects live in host memory only, so the finalizer may release a handle its owner forgot.</remarks>
internal sealed class SafeDnnlPrimitiveDescHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafeDnnlPrimitiveDescHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a raw native handle just returned by its create call.</summary>
    internal void DangerousAttach(nint raw) => SetHandle(raw);

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.Dnnl.dnnl_primitive_desc_destroy(handle) == Interop.Dnnl.dnnl_status_t.dnnl_success;
}
