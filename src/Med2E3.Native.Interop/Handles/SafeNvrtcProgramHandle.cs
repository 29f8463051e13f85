using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>An NVRTC program (<c>nvrtcProgram</c>), destroyed with <c>nvrtcDestroyProgram</c>.</summary>
/// <remarks>
/// Finalization is suppressed at construction: a finalizer runs on a thread with no current CUDA context, so the
/// owner (a Runtime object) must dispose the handle. Only <see cref="SafeHandle.Dispose()"/> releases it.
/// </remarks>
internal sealed class SafeNvrtcProgramHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafeNvrtcProgramHandle()
        : base(0, ownsHandle: true)
    {
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a raw native handle just returned by its create call.</summary>
    internal void DangerousAttach(nint raw) => SetHandle(raw);

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        nint program = handle;
        return Interop.Nvrtc.nvrtcDestroyProgram(ref program) == Interop.Nvrtc.nvrtcResult.NVRTC_SUCCESS;
    }
}
