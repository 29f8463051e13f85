using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Med2E3.Native.Interop;

internal static partial class Interop
{
    /// <summary>
    /// The part of the oneDNN 2.x C API (<c>dnnl.h</c>, as in Debian's <c>libdnnl2</c> 2.6) that the bf16 CPU matrix
    /// products use: a CPU engine and stream, memory descriptors by tag or strides, memory objects over our buffers,
    /// the matmul and reorder primitives, user scratchpad, and the version and ISA queries. The descriptor structs are
    /// passed by pointer only, so they are declared as opaque blocks of their native size. No import has
    /// <c>[SuppressGCTransition]</c>: such a call is bound when its caller is compiled, which would make code that only
    /// might call oneDNN fail where the library is absent.
    /// </summary>
    internal static partial class Dnnl
    {
        /// <summary><c>dnnl_status_t</c>.</summary>
        internal enum dnnl_status_t
        {
            dnnl_success = 0,
            dnnl_out_of_memory = 1,
            dnnl_invalid_arguments = 2,
            dnnl_unimplemented = 3,
            dnnl_iterator_ends = 4,
            dnnl_runtime_error = 5,
            dnnl_not_required = 6,
        }

        /// <summary><c>dnnl_engine_kind_t</c>, the subset used.</summary>
        internal enum dnnl_engine_kind_t
        {
            dnnl_cpu = 1,
        }

        /// <summary><c>dnnl_data_type_t</c>, the subset used.</summary>
        internal enum dnnl_data_type_t
        {
            dnnl_bf16 = 2,
            dnnl_f32 = 3,
            dnnl_u8 = 6,
        }

        /// <summary><c>dnnl_format_tag_t</c>, the subset used (2-D).</summary>
        internal enum dnnl_format_tag_t
        {
            dnnl_format_tag_any = 1,
            dnnl_a = 2,
            dnnl_ab = 3,
            dnnl_ba = 22,
        }

        /// <summary><c>dnnl_query_t</c>, the subset used.</summary>
        internal enum dnnl_query_t
        {
            dnnl_query_impl_info_str = 8,
            dnnl_query_src_md = 129,
            dnnl_query_weights_md = 131,
            dnnl_query_dst_md = 133,
            dnnl_query_scratchpad_md = 136,
        }

        /// <summary><c>dnnl_scratchpad_mode_t</c>.</summary>
        internal enum dnnl_scratchpad_mode_t
        {
            dnnl_scratchpad_mode_library = 0,
            dnnl_scratchpad_mode_user = 1,
        }

        /// <summary><c>dnnl_cpu_isa_t</c> (values are cumulative bit sets).</summary>
        internal enum dnnl_cpu_isa_t
        {
            dnnl_cpu_isa_all = 0x0,
            dnnl_cpu_isa_sse41 = 0x1,
            dnnl_cpu_isa_avx = 0x3,
            dnnl_cpu_isa_avx2 = 0x7,
            dnnl_cpu_isa_avx512_mic = 0xf,
            dnnl_cpu_isa_avx512_mic_4ops = 0x1f,
            dnnl_cpu_isa_avx512_core = 0x27,
            dnnl_cpu_isa_avx512_core_vnni = 0x67,
            dnnl_cpu_isa_avx512_core_bf16 = 0xe7,
            dnnl_cpu_isa_avx512_core_amx = 0x3e7,
            dnnl_cpu_isa_avx2_vnni = 0x407,
        }

        /// <summary><c>dnnl_stream_flags_t</c>: <c>dnnl_stream_default_flags</c> = in-order.</summary>
        internal const uint dnnl_stream_default_flags = 0x1;

        /// <summary><c>DNNL_RUNTIME_OMP</c>, the value of <see cref="dnnl_version_t.cpu_runtime"/> for OpenMP.</summary>
        internal const uint DNNL_RUNTIME_OMP = 2;

        /// <summary>Execution argument indices (<c>DNNL_ARG_*</c>).</summary>
        internal const int DNNL_ARG_SRC = 1;

        /// <summary><c>DNNL_ARG_WEIGHTS</c>.</summary>
        internal const int DNNL_ARG_WEIGHTS = 33;

        /// <summary><c>DNNL_ARG_BIAS</c>.</summary>
        internal const int DNNL_ARG_BIAS = 41;

        /// <summary><c>DNNL_ARG_DST</c>.</summary>
        internal const int DNNL_ARG_DST = 17;

        /// <summary><c>DNNL_ARG_SCRATCHPAD</c>.</summary>
        internal const int DNNL_ARG_SCRATCHPAD = 80;

        /// <summary><c>DNNL_ARG_FROM</c> (reorder source, = <c>DNNL_ARG_SRC</c>).</summary>
        internal const int DNNL_ARG_FROM = 1;

        /// <summary><c>DNNL_ARG_TO</c> (reorder destination, = <c>DNNL_ARG_DST</c>).</summary>
        internal const int DNNL_ARG_TO = 17;

        /// <summary>
        /// <c>dnnl_memory_desc_t</c> of oneDNN 2.x: 696 bytes, 8-byte aligned (<c>sizeof</c> under the 2.6.3 headers;
        /// the 2.x ABI keeps it). Filled and read only by the library.
        /// </summary>
        [InlineArray(87)]
        internal struct dnnl_memory_desc_t
        {
            private long _element0;
        }

        /// <summary><c>dnnl_matmul_desc_t</c> of oneDNN 2.x: 2800 bytes, 8-byte aligned (4 memory descs and a header).</summary>
        [InlineArray(350)]
        internal struct dnnl_matmul_desc_t
        {
            private long _element0;
        }

        /// <summary><c>dnnl_exec_arg_t</c>: an argument index and the memory bound to it.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct dnnl_exec_arg_t
        {
            internal int arg;
            internal nint memory;
        }

        /// <summary><c>dnnl_version_t</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct dnnl_version_t
        {
            internal int major;
            internal int minor;
            internal int patch;
            internal byte* hash;
            internal uint cpu_runtime;
            internal uint gpu_runtime;
        }

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_version")]
        internal static unsafe partial dnnl_version_t* dnnl_version();

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_get_effective_cpu_isa")]
        internal static partial dnnl_cpu_isa_t dnnl_get_effective_cpu_isa();

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_engine_create")]
        internal static partial dnnl_status_t dnnl_engine_create(out nint engine, dnnl_engine_kind_t kind, nuint index);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_engine_destroy")]
        internal static partial dnnl_status_t dnnl_engine_destroy(nint engine);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_stream_create")]
        internal static partial dnnl_status_t dnnl_stream_create(out nint stream, nint engine, uint flags);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_stream_wait")]
        internal static partial dnnl_status_t dnnl_stream_wait(nint stream);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_stream_destroy")]
        internal static partial dnnl_status_t dnnl_stream_destroy(nint stream);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_desc_init_by_tag")]
        internal static unsafe partial dnnl_status_t dnnl_memory_desc_init_by_tag(
            dnnl_memory_desc_t* memory_desc, int ndims, long* dims, dnnl_data_type_t data_type, dnnl_format_tag_t tag);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_desc_init_by_strides")]
        internal static unsafe partial dnnl_status_t dnnl_memory_desc_init_by_strides(
            dnnl_memory_desc_t* memory_desc, int ndims, long* dims, dnnl_data_type_t data_type, long* strides);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_desc_get_size")]
        internal static unsafe partial nuint dnnl_memory_desc_get_size(dnnl_memory_desc_t* memory_desc);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_desc_equal")]
        internal static unsafe partial int dnnl_memory_desc_equal(dnnl_memory_desc_t* lhs, dnnl_memory_desc_t* rhs);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_create")]
        internal static unsafe partial dnnl_status_t dnnl_memory_create(
            out nint memory, dnnl_memory_desc_t* memory_desc, nint engine, void* handle);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_memory_destroy")]
        internal static partial dnnl_status_t dnnl_memory_destroy(nint memory);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_matmul_desc_init")]
        internal static unsafe partial dnnl_status_t dnnl_matmul_desc_init(dnnl_matmul_desc_t* matmul_desc,
            dnnl_memory_desc_t* src_desc, dnnl_memory_desc_t* weights_desc, dnnl_memory_desc_t* bias_desc,
            dnnl_memory_desc_t* dst_desc);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_attr_create")]
        internal static partial dnnl_status_t dnnl_primitive_attr_create(out nint attr);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_attr_destroy")]
        internal static partial dnnl_status_t dnnl_primitive_attr_destroy(nint attr);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_attr_set_scratchpad_mode")]
        internal static partial dnnl_status_t dnnl_primitive_attr_set_scratchpad_mode(nint attr,
            dnnl_scratchpad_mode_t mode);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_desc_create")]
        internal static unsafe partial dnnl_status_t dnnl_primitive_desc_create(out nint primitive_desc,
            void* op_desc, nint attr, nint engine, nint hint_forward_primitive_desc);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_reorder_primitive_desc_create")]
        internal static unsafe partial dnnl_status_t dnnl_reorder_primitive_desc_create(out nint reorder_primitive_desc,
            dnnl_memory_desc_t* src_desc, nint src_engine, dnnl_memory_desc_t* dst_desc, nint dst_engine, nint attr);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_desc_query")]
        internal static unsafe partial dnnl_status_t dnnl_primitive_desc_query(nint primitive_desc, dnnl_query_t what,
            int index, void* result);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_desc_query_md")]
        internal static unsafe partial dnnl_memory_desc_t* dnnl_primitive_desc_query_md(nint primitive_desc,
            dnnl_query_t what, int index);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_desc_destroy")]
        internal static partial dnnl_status_t dnnl_primitive_desc_destroy(nint primitive_desc);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_create")]
        internal static partial dnnl_status_t dnnl_primitive_create(out nint primitive, nint primitive_desc);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_execute")]
        internal static unsafe partial dnnl_status_t dnnl_primitive_execute(nint primitive, nint stream, int nargs,
            dnnl_exec_arg_t* args);

        [LibraryImport(Libraries.Dnnl, EntryPoint = "dnnl_primitive_destroy")]
        internal static partial dnnl_status_t dnnl_primitive_destroy(nint primitive);
    }
}
