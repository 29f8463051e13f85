using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cublas
    {
        /// <summary>cuBLAS status codes (<c>cublasStatus_t</c>), shared with cuBLASLt.</summary>
        internal enum cublasStatus_t
        {
            CUBLAS_STATUS_SUCCESS = 0,
            CUBLAS_STATUS_NOT_INITIALIZED = 1,
            CUBLAS_STATUS_ALLOC_FAILED = 3,
            CUBLAS_STATUS_INVALID_VALUE = 7,
            CUBLAS_STATUS_ARCH_MISMATCH = 8,
            CUBLAS_STATUS_MAPPING_ERROR = 11,
            CUBLAS_STATUS_EXECUTION_FAILED = 13,
            CUBLAS_STATUS_INTERNAL_ERROR = 14,
            CUBLAS_STATUS_NOT_SUPPORTED = 15,
            CUBLAS_STATUS_LICENSE_ERROR = 16,
        }

        /// <summary>Transpose operation (<c>cublasOperation_t</c>).</summary>
        internal enum cublasOperation_t
        {
            CUBLAS_OP_N = 0,
            CUBLAS_OP_T = 1,
            CUBLAS_OP_C = 2,
        }

        /// <summary>Math mode (<c>cublasMath_t</c>).</summary>
        internal enum cublasMath_t
        {
            CUBLAS_DEFAULT_MATH = 0,
            CUBLAS_TENSOR_OP_MATH = 1,
            CUBLAS_PEDANTIC_MATH = 2,
            CUBLAS_TF32_TENSOR_OP_MATH = 3,
            CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16,
        }

        /// <summary>Element types (<c>cudaDataType</c>).</summary>
        internal enum cudaDataType
        {
            CUDA_R_32F = 0,
            CUDA_R_64F = 1,
            CUDA_R_16F = 2,
            CUDA_R_8I = 3,
            CUDA_R_32I = 10,
            CUDA_R_16BF = 14,
        }

        /// <summary>Compute types (<c>cublasComputeType_t</c>).</summary>
        internal enum cublasComputeType_t
        {
            CUBLAS_COMPUTE_16F = 64,
            CUBLAS_COMPUTE_16F_PEDANTIC = 65,
            CUBLAS_COMPUTE_32F = 68,
            CUBLAS_COMPUTE_32F_PEDANTIC = 69,
            CUBLAS_COMPUTE_64F = 70,
            CUBLAS_COMPUTE_32I = 72,
            CUBLAS_COMPUTE_32F_FAST_16F = 74,
            CUBLAS_COMPUTE_32F_FAST_16BF = 75,
            CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
        }

        /// <summary>GEMM algorithm selector (<c>cublasGemmAlgo_t</c>).</summary>
        internal enum cublasGemmAlgo_t
        {
            CUBLAS_GEMM_DEFAULT = -1,
            CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99,
        }

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasCreate_v2")]
        internal static partial cublasStatus_t cublasCreate(out nint handle);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasDestroy_v2")]
        internal static partial cublasStatus_t cublasDestroy(nint handle);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasGetVersion_v2")]
        internal static partial cublasStatus_t cublasGetVersion(nint handle, out int version);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasGetStatusName")]
        [SuppressGCTransition]
        internal static unsafe partial byte* cublasGetStatusName(cublasStatus_t status);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasSetStream_v2")]
        internal static partial cublasStatus_t cublasSetStream(nint handle, nint streamId);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasSetWorkspace_v2")]
        internal static partial cublasStatus_t cublasSetWorkspace(nint handle, ulong workspace, nuint workspaceSizeInBytes);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasSetMathMode")]
        internal static partial cublasStatus_t cublasSetMathMode(nint handle, cublasMath_t mode);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasGemmEx")]
        internal static unsafe partial cublasStatus_t cublasGemmEx(
            nint handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
            void* alpha, ulong A, cudaDataType Atype, int lda, ulong B, cudaDataType Btype, int ldb,
            void* beta, ulong C, cudaDataType Ctype, int ldc,
            cublasComputeType_t computeType, cublasGemmAlgo_t algo);

        [LibraryImport(Libraries.Cublas, EntryPoint = "cublasGemmStridedBatchedEx")]
        internal static unsafe partial cublasStatus_t cublasGemmStridedBatchedEx(
            nint handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
            void* alpha, ulong A, cudaDataType Atype, int lda, long strideA,
            ulong B, cudaDataType Btype, int ldb, long strideB,
            void* beta, ulong C, cudaDataType Ctype, int ldc, long strideC,
            int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
    }
}
