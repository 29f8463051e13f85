using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Med2E3.Native.Interop.Interop.Cublas;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Interop.Interop.Nvrtc;

namespace Med2E3.Native.Runtime;

/// <summary>
/// The one place where native result codes become exceptions. Every <c>CUresult</c>, <c>nvrtcResult</c> and
/// <c>cublasStatus_t</c> goes through <c>Check(r)</c>, which captures the call expression.
/// </summary>
internal static class CudaCheck
{
    internal const string DriverLibrary = "CUDA driver";
    internal const string NvrtcLibrary = "NVRTC";
    internal const string CublasLibrary = "cuBLAS";

    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="r"/> is success.</summary>
    internal static void Check(CUresult r, [CallerArgumentExpression(nameof(r))] string? expr = null)
    {
        if (r != CUresult.CUDA_SUCCESS)
        {
            throw FromDriver(r, expr);
        }
    }

    /// <summary>
    /// For the query calls (<c>cuStreamQuery</c>, <c>cuEventQuery</c>): false for <c>CUDA_ERROR_NOT_READY</c>, true
    /// for success, and a <see cref="CudaException"/> for any other result.
    /// </summary>
    internal static bool CheckReady(CUresult r, [CallerArgumentExpression(nameof(r))] string? expr = null)
    {
        if (r == CUresult.CUDA_ERROR_NOT_READY)
        {
            return false;
        }

        Check(r, expr);
        return true;
    }

    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="r"/> is success.</summary>
    internal static void Check(nvrtcResult r, [CallerArgumentExpression(nameof(r))] string? expr = null)
    {
        if (r != nvrtcResult.NVRTC_SUCCESS)
        {
            throw new CudaException(NvrtcLibrary, (int)r, NvrtcErrorName(r), NvrtcDescription(r), expr);
        }
    }

    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="r"/> is success.</summary>
    internal static void Check(cublasStatus_t r, [CallerArgumentExpression(nameof(r))] string? expr = null)
    {
        if (r != cublasStatus_t.CUBLAS_STATUS_SUCCESS)
        {
            throw new CudaException(CublasLibrary, (int)r, CublasErrorName(r), CublasDescription(r), expr);
        }
    }

    /// <summary>The exception for a driver result, without throwing it.</summary>
    internal static CudaException FromDriver(CUresult r, string? expr) =>
        new(DriverLibrary, (int)r, DriverErrorName(r), DriverDescription(r), expr);

    /// <summary>The native name of a driver result; asks the driver for codes this file does not list.</summary>
    internal static unsafe string DriverErrorName(CUresult r)
    {
        if (Enum.IsDefined(r))
        {
            return r.ToString();
        }

        return (CudaLibraryResolver.IsLoaded(CudaLibrary.Driver) ? NativeDriverErrorName(r) : null)
            ?? $"CUDA_ERROR_{(int)r}";
    }

    // Native calls sit in their own non-inlined methods: an inlined P/Invoke may be bound when the caller is
    // compiled, which would fail on a machine without the library even though the call is never reached.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe string? NativeDriverErrorName(CUresult r)
    {
        byte* name = null;
        return cuGetErrorName(r, &name) == CUresult.CUDA_SUCCESS && name != null
            ? Marshal.PtrToStringUTF8((nint)name)
            : null;
    }

    private static string DriverDescription(CUresult r) =>
        (CudaLibraryResolver.IsLoaded(CudaLibrary.Driver) ? NativeDriverDescription(r) : null) ?? string.Empty;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe string? NativeDriverDescription(CUresult r)
    {
        byte* text = null;
        return cuGetErrorString(r, &text) == CUresult.CUDA_SUCCESS && text != null
            ? Marshal.PtrToStringUTF8((nint)text)
            : null;
    }

    /// <summary>The native name of an NVRTC result.</summary>
    internal static string NvrtcErrorName(nvrtcResult r) => Enum.IsDefined(r) ? r.ToString() : $"NVRTC_ERROR_{(int)r}";

    private static string NvrtcDescription(nvrtcResult r) =>
        (CudaLibraryResolver.IsLoaded(CudaLibrary.Nvrtc) ? NativeNvrtcDescription(r) : null) ?? string.Empty;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe string? NativeNvrtcDescription(nvrtcResult r)
    {
        byte* text = nvrtcGetErrorString(r);
        return text != null ? Marshal.PtrToStringUTF8((nint)text) : null;
    }

    /// <summary>The native name of a cuBLAS status.</summary>
    internal static string CublasErrorName(cublasStatus_t r) =>
        Enum.IsDefined(r) ? r.ToString() : $"CUBLAS_STATUS_{(int)r}";

    private static string CublasDescription(cublasStatus_t r) => r switch
    {
        cublasStatus_t.CUBLAS_STATUS_NOT_INITIALIZED => "the library was not initialised",
        cublasStatus_t.CUBLAS_STATUS_ALLOC_FAILED => "resource allocation failed",
        cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE => "an unsupported value or parameter was passed",
        cublasStatus_t.CUBLAS_STATUS_ARCH_MISMATCH => "the device does not support the requested feature",
        cublasStatus_t.CUBLAS_STATUS_MAPPING_ERROR => "access to GPU memory space failed",
        cublasStatus_t.CUBLAS_STATUS_EXECUTION_FAILED => "the GPU program failed to execute",
        cublasStatus_t.CUBLAS_STATUS_INTERNAL_ERROR => "an internal operation failed",
        cublasStatus_t.CUBLAS_STATUS_NOT_SUPPORTED => "the functionality requested is not supported",
        _ => string.Empty,
    };
}
