using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

/// <summary>A cuBLASLt matmul preference, destroyed with <c>cublasLtMatmulPreferenceDestroy</c>.</summary>
/// <remarks>
/// Finalization is suppressed at construction: a finalizer runs on a thread with no current CUDA context, so the
/// owner (a Runtime object) must dispose the handle. Only <see cref="SafeHandle.Dispose()"/> releases it.
/// </remarks>
internal sealed class SafeCublasLtPreferenceHandle : SafeHandle
{
    /// <summary>Creates an invalid handle; the owner sets it with <see cref="DangerousAttach"/>.</summary>
    public SafeCublasLtPreferenceHandle()
        : base(0, ownsHandle: true)
    {
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a raw native handle just returned by its create call.</summary>
    internal void DangerousAttach(nint raw) => SetHandle(raw);

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.CublasLt.cublasLtMatmulPreferenceDestroy(handle) == Interop.Cublas.cublasStatus_t.CUBLAS_STATUS_SUCCESS;
}
