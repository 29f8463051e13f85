namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Cuda
    {
        /// <summary>Driver API result codes (<c>CUresult</c>), native values.</summary>
        internal enum CUresult
        {
            CUDA_SUCCESS = 0,
            CUDA_ERROR_INVALID_VALUE = 1,
            CUDA_ERROR_OUT_OF_MEMORY = 2,
            CUDA_ERROR_NOT_INITIALIZED = 3,
            CUDA_ERROR_DEINITIALIZED = 4,
            CUDA_ERROR_PROFILER_DISABLED = 5,
            CUDA_ERROR_STUB_LIBRARY = 34,
            CUDA_ERROR_DEVICE_UNAVAILABLE = 46,
            CUDA_ERROR_NO_DEVICE = 100,
            CUDA_ERROR_INVALID_DEVICE = 101,
            CUDA_ERROR_DEVICE_NOT_LICENSED = 102,
            CUDA_ERROR_INVALID_IMAGE = 200,
            CUDA_ERROR_INVALID_CONTEXT = 201,
            CUDA_ERROR_CONTEXT_ALREADY_CURRENT = 202,
            CUDA_ERROR_MAP_FAILED = 205,
            CUDA_ERROR_UNMAP_FAILED = 206,
            CUDA_ERROR_ARRAY_IS_MAPPED = 207,
            CUDA_ERROR_ALREADY_MAPPED = 208,
            CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
            CUDA_ERROR_ALREADY_ACQUIRED = 210,
            CUDA_ERROR_NOT_MAPPED = 211,
            CUDA_ERROR_ECC_UNCORRECTABLE = 214,
            CUDA_ERROR_UNSUPPORTED_LIMIT = 215,
            CUDA_ERROR_CONTEXT_ALREADY_IN_USE = 216,
            CUDA_ERROR_PEER_ACCESS_UNSUPPORTED = 217,
            CUDA_ERROR_INVALID_PTX = 218,
            CUDA_ERROR_INVALID_GRAPHICS_CONTEXT = 219,
            CUDA_ERROR_NVLINK_UNCORRECTABLE = 220,
            CUDA_ERROR_JIT_COMPILER_NOT_FOUND = 221,
            CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
            CUDA_ERROR_JIT_COMPILATION_DISABLED = 223,
            CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY = 224,
            CUDA_ERROR_INVALID_SOURCE = 300,
            CUDA_ERROR_FILE_NOT_FOUND = 301,
            CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND = 302,
            CUDA_ERROR_SHARED_OBJECT_INIT_FAILED = 303,
            CUDA_ERROR_OPERATING_SYSTEM = 304,
            CUDA_ERROR_INVALID_HANDLE = 400,
            CUDA_ERROR_ILLEGAL_STATE = 401,
            CUDA_ERROR_NOT_FOUND = 500,
            CUDA_ERROR_NOT_READY = 600,
            CUDA_ERROR_ILLEGAL_ADDRESS = 700,
            CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
            CUDA_ERROR_LAUNCH_TIMEOUT = 702,
            CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING = 703,
            CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
            CUDA_ERROR_PEER_ACCESS_NOT_ENABLED = 705,
            CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE = 708,
            CUDA_ERROR_CONTEXT_IS_DESTROYED = 709,
            CUDA_ERROR_ASSERT = 710,
            CUDA_ERROR_TOO_MANY_PEERS = 711,
            CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712,
            CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713,
            CUDA_ERROR_HARDWARE_STACK_ERROR = 714,
            CUDA_ERROR_ILLEGAL_INSTRUCTION = 715,
            CUDA_ERROR_MISALIGNED_ADDRESS = 716,
            CUDA_ERROR_INVALID_ADDRESS_SPACE = 717,
            CUDA_ERROR_INVALID_PC = 718,
            CUDA_ERROR_LAUNCH_FAILED = 719,
            CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE = 720,
            CUDA_ERROR_NOT_PERMITTED = 800,
            CUDA_ERROR_NOT_SUPPORTED = 801,
            CUDA_ERROR_SYSTEM_NOT_READY = 802,
            CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
            CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
            CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
            CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
            CUDA_ERROR_STREAM_CAPTURE_MERGE = 902,
            CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
            CUDA_ERROR_STREAM_CAPTURE_UNJOINED = 904,
            CUDA_ERROR_STREAM_CAPTURE_ISOLATION = 905,
            CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
            CUDA_ERROR_CAPTURED_EVENT = 907,
            CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
            CUDA_ERROR_TIMEOUT = 909,
            CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE = 910,
            CUDA_ERROR_UNKNOWN = 999,
        }

        /// <summary>Device attributes (<c>CUdevice_attribute</c>), the subset this project reads.</summary>
        internal enum CUdevice_attribute
        {
            CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
            CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
            CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
            CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK = 12,
            CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13,
            CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
            CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
            CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
            CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
            CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
            CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
            CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
            CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
            CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
            CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR = 82,
            CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
        }

        /// <summary>Kernel function attributes (<c>CUfunction_attribute</c>).</summary>
        internal enum CUfunction_attribute
        {
            CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
            CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
            CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES = 2,
            CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
            CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
            CU_FUNC_ATTRIBUTE_PTX_VERSION = 5,
            CU_FUNC_ATTRIBUTE_BINARY_VERSION = 6,
            CU_FUNC_ATTRIBUTE_CACHE_MODE_CA = 7,
            CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
            CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT = 9,
        }

        /// <summary>Stream creation flags (<c>CUstream_flags</c>).</summary>
        internal enum CUstream_flags : uint
        {
            CU_STREAM_DEFAULT = 0,
            CU_STREAM_NON_BLOCKING = 1,
        }

        /// <summary>Event creation flags (<c>CUevent_flags</c>).</summary>
        internal enum CUevent_flags : uint
        {
            CU_EVENT_DEFAULT = 0,
            CU_EVENT_BLOCKING_SYNC = 1,
            CU_EVENT_DISABLE_TIMING = 2,
        }

        /// <summary>Stream capture modes (<c>CUstreamCaptureMode</c>).</summary>
        internal enum CUstreamCaptureMode
        {
            CU_STREAM_CAPTURE_MODE_GLOBAL = 0,
            CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
            CU_STREAM_CAPTURE_MODE_RELAXED = 2,
        }

        /// <summary>Stream capture status (<c>CUstreamCaptureStatus</c>).</summary>
        internal enum CUstreamCaptureStatus
        {
            CU_STREAM_CAPTURE_STATUS_NONE = 0,
            CU_STREAM_CAPTURE_STATUS_ACTIVE = 1,
            CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2,
        }

        /// <summary>Flags for <c>cuMemHostAlloc</c>.</summary>
        internal const uint CU_MEMHOSTALLOC_PORTABLE = 0x01;

        /// <summary>Flags for <c>cuMemHostAlloc</c>.</summary>
        internal const uint CU_MEMHOSTALLOC_DEVICEMAP = 0x02;
    }
}
