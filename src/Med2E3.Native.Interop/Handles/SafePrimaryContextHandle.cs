using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>
/// A retained primary context (<c>CUcontext</c> from <c>cuDevicePrimaryCtxRetain</c>), released with
/// <c>cuDevicePrimaryCtxRelease</c> on the same device ordinal.
/// </summary>
/// <remarks>Finalization is suppressed at construction; the owning device disposes it.</remarks>
internal sealed class SafePrimaryContextHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafePrimaryContextHandle()
        : base(0, ownsHandle: true)
    {
        GC.SuppressFinalize(this);
    }

    /// <summary>The device whose primary context this is.</summary>
    internal int Device { get; private set; }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a context just retained for <paramref name="device"/>.</summary>
    internal void DangerousAttach(nint raw, int device)
    {
        Device = device;
        SetHandle(raw);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() =>
        Interop.Cuda.cuDevicePrimaryCtxRelease(Device) == Interop.Cuda.CUresult.CUDA_SUCCESS;
}
