using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Med2E3.Native.Interop.Interop.Cublas;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class CublasLt
    {
        /// <summary>Matmul descriptor attributes (<c>cublasLtMatmulDescAttributes_t</c>), the subset used here.</summary>
        internal enum cublasLtMatmulDescAttributes_t
        {
            CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,
            CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,
            CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,
            CUBLASLT_MATMUL_DESC_TRANSA = 3,
            CUBLASLT_MATMUL_DESC_TRANSB = 4,
            CUBLASLT_MATMUL_DESC_TRANSC = 5,
            CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
            CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
            CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE = 10,
            CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11,
            CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,
        }

        /// <summary>Epilogues (<c>cublasLtEpilogue_t</c>).</summary>
        internal enum cublasLtEpilogue_t : uint
        {
            CUBLASLT_EPILOGUE_DEFAULT = 1,
            CUBLASLT_EPILOGUE_RELU = 2,
            CUBLASLT_EPILOGUE_BIAS = 4,
            CUBLASLT_EPILOGUE_RELU_BIAS = 6,
            CUBLASLT_EPILOGUE_GELU = 32,
            CUBLASLT_EPILOGUE_GELU_BIAS = 36,
        }

        /// <summary>Matrix layout attributes (<c>cublasLtMatrixLayoutAttribute_t</c>).</summary>
        internal enum cublasLtMatrixLayoutAttribute_t
        {
            CUBLASLT_MATRIX_LAYOUT_TYPE = 0,
            CUBLASLT_MATRIX_LAYOUT_ORDER = 1,
            CUBLASLT_MATRIX_LAYOUT_ROWS = 2,
            CUBLASLT_MATRIX_LAYOUT_COLS = 3,
            CUBLASLT_MATRIX_LAYOUT_LD = 4,
            CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
            CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
        }

        /// <summary>Matmul preference attributes (<c>cublasLtMatmulPreferenceAttributes_t</c>).</summary>
        internal enum cublasLtMatmulPreferenceAttributes_t
        {
            CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,
            CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
        }

        /// <summary>Opaque algorithm description (<c>cublasLtMatmulAlgo_t</c>, 8 × uint64).</summary>
        [InlineArray(8)]
        internal struct cublasLtMatmulAlgo_t
        {
            private ulong _data;
        }

        /// <summary>One heuristic answer (<c>cublasLtMatmulHeuristicResult_t</c>, 96 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct cublasLtMatmulHeuristicResult_t
        {
            internal cublasLtMatmulAlgo_t algo;
            internal nuint workspaceSize;
            internal cublasStatus_t state;
            internal float wavesCount;
            internal int reserved0;
            internal int reserved1;
            internal int reserved2;
            internal int reserved3;
        }

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtCreate")]
        internal static partial cublasStatus_t cublasLtCreate(out nint lightHandle);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtDestroy")]
        internal static partial cublasStatus_t cublasLtDestroy(nint lightHandle);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtGetVersion")]
        [SuppressGCTransition]
        internal static partial nuint cublasLtGetVersion();

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescCreate")]
        internal static partial cublasStatus_t cublasLtMatmulDescCreate(
            out nint matmulDesc, cublasComputeType_t computeType, cudaDataType scaleType);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescDestroy")]
        internal static partial cublasStatus_t cublasLtMatmulDescDestroy(nint matmulDesc);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescSetAttribute")]
        internal static unsafe partial cublasStatus_t cublasLtMatmulDescSetAttribute(
            nint matmulDesc, cublasLtMatmulDescAttributes_t attr, void* buf, nuint sizeInBytes);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatrixLayoutCreate")]
        internal static partial cublasStatus_t cublasLtMatrixLayoutCreate(
            out nint matLayout, cudaDataType type, ulong rows, ulong cols, long ld);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatrixLayoutDestroy")]
        internal static partial cublasStatus_t cublasLtMatrixLayoutDestroy(nint matLayout);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatrixLayoutSetAttribute")]
        internal static unsafe partial cublasStatus_t cublasLtMatrixLayoutSetAttribute(
            nint matLayout, cublasLtMatrixLayoutAttribute_t attr, void* buf, nuint sizeInBytes);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceCreate")]
        internal static partial cublasStatus_t cublasLtMatmulPreferenceCreate(out nint pref);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceDestroy")]
        internal static partial cublasStatus_t cublasLtMatmulPreferenceDestroy(nint pref);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceSetAttribute")]
        internal static unsafe partial cublasStatus_t cublasLtMatmulPreferenceSetAttribute(
            nint pref, cublasLtMatmulPreferenceAttributes_t attr, void* buf, nuint sizeInBytes);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulAlgoGetHeuristic")]
        internal static unsafe partial cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
            nint lightHandle, nint operationDesc, nint Adesc, nint Bdesc, nint Cdesc, nint Ddesc, nint preference,
            int requestedAlgoCount, cublasLtMatmulHeuristicResult_t* heuristicResultsArray, out int returnAlgoCount);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmul")]
        internal static unsafe partial cublasStatus_t cublasLtMatmul(
            nint lightHandle, nint computeDesc, void* alpha, ulong A, nint Adesc, ulong B, nint Bdesc,
            void* beta, ulong C, nint Cdesc, ulong D, nint Ddesc, cublasLtMatmulAlgo_t* algo,
            ulong workspace, nuint workspaceSizeInBytes, nint stream);
    }
}
