using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    internal static partial class Nvrtc
    {
        /// <summary>NVRTC result codes (<c>nvrtcResult</c>), native values.</summary>
        internal enum nvrtcResult
        {
            NVRTC_SUCCESS = 0,
            NVRTC_ERROR_OUT_OF_MEMORY = 1,
            NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
            NVRTC_ERROR_INVALID_INPUT = 3,
            NVRTC_ERROR_INVALID_PROGRAM = 4,
            NVRTC_ERROR_INVALID_OPTION = 5,
            NVRTC_ERROR_COMPILATION = 6,
            NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7,
            NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION = 8,
            NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION = 9,
            NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID = 10,
            NVRTC_ERROR_INTERNAL_ERROR = 11,
            NVRTC_ERROR_TIME_FILE_WRITE_FAILED = 12,
        }

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcVersion")]
        [SuppressGCTransition]
        internal static partial nvrtcResult nvrtcVersion(out int major, out int minor);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetNumSupportedArchs")]
        internal static partial nvrtcResult nvrtcGetNumSupportedArchs(out int numArchs);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetSupportedArchs")]
        internal static unsafe partial nvrtcResult nvrtcGetSupportedArchs(int* supportedArchs);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetErrorString")]
        [SuppressGCTransition]
        internal static unsafe partial byte* nvrtcGetErrorString(nvrtcResult result);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcCreateProgram")]
        internal static unsafe partial nvrtcResult nvrtcCreateProgram(
            out nint prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcDestroyProgram")]
        internal static partial nvrtcResult nvrtcDestroyProgram(ref nint prog);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcCompileProgram")]
        internal static unsafe partial nvrtcResult nvrtcCompileProgram(nint prog, int numOptions, byte** options);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetProgramLogSize")]
        internal static partial nvrtcResult nvrtcGetProgramLogSize(nint prog, out nuint logSizeRet);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetProgramLog")]
        internal static unsafe partial nvrtcResult nvrtcGetProgramLog(nint prog, byte* log);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetPTXSize")]
        internal static partial nvrtcResult nvrtcGetPTXSize(nint prog, out nuint ptxSizeRet);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetPTX")]
        internal static unsafe partial nvrtcResult nvrtcGetPTX(nint prog, byte* ptx);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetCUBINSize")]
        internal static partial nvrtcResult nvrtcGetCUBINSize(nint prog, out nuint cubinSizeRet);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetCUBIN")]
        internal static unsafe partial nvrtcResult nvrtcGetCUBIN(nint prog, byte* cubin);
    }
}
