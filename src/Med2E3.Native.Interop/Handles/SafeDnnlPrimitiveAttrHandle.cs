using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>oneDNN primitive attributes (<c>dnnl_primitive_attr_t</c>), destroyed with <c>dnnl_primitive_attr_destroy</c>.</summary>
/// <remarks>oneDNN objects live in host memory only, so the finalizer may release a handle its owner forgot.</remarks>
internal sealed class SafeDnnlPrimitiveAttrHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafeDnnlPrimitiveAttrHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a raw native handle just returned by its create call.</summary>
    internal void DangerousAttach(nint raw) => SetHandle(raw);

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.Dnnl.dnnl_primitive_attr_destroy(handle) == Interop.Dnnl.dnnl_status_t.dnnl_success;
}
