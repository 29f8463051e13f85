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

        if (CudaLibraryResolver.IsLoaded(CudaLibrary.Driver))
        {
            byte* name = null;
            if (cuGetErrorName(r, &name) == CUresult.CUDA_SUCCESS && name != null)
            {
                return Marshal.PtrToStringUTF8((nint)name) ?? $"CUDA_ERROR_{(int)r}";
            }
        }

        return $"CUDA_ERROR_{(int)r}";
    }

    private static unsafe string DriverDescription(CUresult r)
    {
        if (CudaLibraryResolver.IsLoaded(CudaLibrary.Driver))
        {
            byte* text = null;
            if (cuGetErrorString(r, &text) == CUresult.CUDA_SUCCESS && text != null)
            {
                return Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;
            }
        }

        return string.Empty;
    }

    /// <summary>The native name of an NVRTC result.</summary>
    internal static string NvrtcErrorName(nvrtcResult r) => Enum.IsDefined(r) ? r.ToString() : $"NVRTC_ERROR_{(int)r}";

    private static unsafe string NvrtcDescription(nvrtcResult r)
    {
        if (CudaLibraryResolver.IsLoaded(CudaLibrary.Nvrtc))
        {
            byte* text = nvrtcGetErrorString(r);
            if (text != null)
            {
                return Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;
            }
        }

        return string.Empty;
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
