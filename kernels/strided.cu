// strided.cu — strided copy with dtype conversion, fill, broadcasting binary ops and sums over a middle axis: the
// tensor plumbing the CUDA backend needs around the op kernels (flat contiguous arithmetic is in elementwise.cu).
//
// defines:  copy_fwd_any, fill_fwd_any, binary_fwd_f32, binary_fwd_bf16, reduce_cols_fwd_f32, reduce_cols_fwd_bf16
// math:     copy:     y[i] = convert(a[i]) for every index i of the shape, each side read through its own strides;
//                     dtype codes follow the C# DType enum (0 f32, 1 f64, 2 bf16, 3 f16, 4 i32, 5 i64, 6 bool), the
//                     value passes through f64 as in TensorMath.Read/Write: to f32 by (float), to bf16 and f16 through
//                     f32 with round-to-nearest-even, to integers by truncation, to bool as v ≠ 0
//           fill:     y[i] = convert(value)
//           binary:   y[i] = a[i] ∘ b[i], ∘ ∈ {+, −, ×, ÷} (op = BinaryOp: 0 add, 1 sub, 2 mul, 3 div); a and b are
//                     read through strides (0 on broadcast axes); f32 math, bf16 rounded once on store
//           reduce_cols: y[o, i] = Σ_r x[o, r, i] (÷ R when mean) for Inner > 1 (Inner = 1 is reduce.cu's row sum)
// shapes:   copy/fill/binary: rank ≤ 8, shape and strides in elements in StridedParams; y strided for copy/fill,
//           any strides for binary (the launcher makes y contiguous when the CPU would); reduce_cols contiguous
//           x (Outer, R, Inner) → y (Outer, Inner)
// launch:   copy/fill/binary: one thread per element, grid-stride, grid min(ceil_div(n, 256), 8·SMs), block 256
//           reduce_cols: one thread per output, grid ceil_div(Outer·Inner, 256), block 256
//           (threads run along Inner, so each step of the R loop reads a coalesced row)
// floor:    memory-bound: (in + out) bytes per element; a transposing copy loses coalescing on one side.
//           Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Tensors/TensorMath.cs → TensorMath.CpuCopy, TensorMath.Fill;
//           src/Med2E3.Native.Ops/Ops/Elementwise.cs → Elementwise.BinaryReference (broadcast operands);
//           src/Med2E3.Native.Ops/Ops/Reduce.cs → Reduce.Reference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (PointwiseConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

#define STRIDED_MAX_RANK 8

// Arguments of copy_fwd_any, fill_fwd_any and binary_fwd_*.
struct StridedParams {
    const void* a;                   // copy: source; binary: left operand
    const void* b;                   // binary: right operand
    void* y;                         // destination
    int rank;                        // number of axes (≤ 8; 0 is a scalar)
    int a_dtype;                     // copy: source dtype code
    int y_dtype;                     // copy/fill: destination dtype code
    int op;                          // binary: 0 add, 1 sub, 2 mul, 3 div
    double value;                    // fill: the value
    i64 n;                           // element count (product of shape)
    int shape[STRIDED_MAX_RANK];     // extents, outermost first
    i64 sa[STRIDED_MAX_RANK];        // element strides of a
    i64 sb[STRIDED_MAX_RANK];        // element strides of b
    i64 sy[STRIDED_MAX_RANK];        // element strides of y
};
static_assert(sizeof(StridedParams) == 280, "StridedParams layout is mirrored in C#");

// Offsets of flat (row-major) index e in up to three strided tensors.
__device__ __forceinline__ void strided_offsets(const StridedParams& p, i64 e, i64& oa, i64& ob, i64& oy) {
    oa = ob = oy = 0;
#pragma unroll
    for (int d = STRIDED_MAX_RANK - 1; d >= 0; --d) {
        if (d >= p.rank) continue;
        const i64 idx = e % p.shape[d];
        e /= p.shape[d];
        oa += idx * p.sa[d];
        ob += idx * p.sb[d];
        oy += idx * p.sy[d];
    }
}

__device__ __forceinline__ double read_any(const void* base, int dtype, i64 i) {
    switch (dtype) {
        case 0: return ((const float*)base)[i];
        case 1: return ((const double*)base)[i];
        case 2: return bf16_to_f32(((const bf16_t*)base)[i]);
        case 3: return f16_to_f32(((const f16_t*)base)[i]);
        case 4: return ((const int*)base)[i];
        case 5: return (double)((const i64*)base)[i];
        default: return ((const unsigned char*)base)[i] != 0 ? 1.0 : 0.0;
    }
}

__device__ __forceinline__ void write_any(void* base, int dtype, i64 i, double v) {
    switch (dtype) {
        case 0: ((float*)base)[i] = (float)v; break;
        case 1: ((double*)base)[i] = v; break;
        case 2: ((bf16_t*)base)[i] = f32_to_bf16((float)v); break;
        case 3: ((f16_t*)base)[i] = f32_to_f16((float)v); break;
        case 4: ((int*)base)[i] = (int)v; break;
        case 5: ((i64*)base)[i] = (i64)v; break;
        default: ((unsigned char*)base)[i] = v != 0.0 ? 1 : 0; break;
    }
}

// The dtype switch is uniform across the grid, so it costs a few instructions per element, not divergence.
extern "C" __global__ void copy_fwd_any(StridedParams p) {
    for (i64 e = global_thread(); e < p.n; e += grid_stride()) {
        i64 oa, ob, oy;
        strided_offsets(p, e, oa, ob, oy);
        if (p.a_dtype == p.y_dtype && p.a_dtype == 0) ((float*)p.y)[oy] = ((const float*)p.a)[oa];
        else write_any(p.y, p.y_dtype, oy, read_any(p.a, p.a_dtype, oa));
    }
}

extern "C" __global__ void fill_fwd_any(StridedParams p) {
    for (i64 e = global_thread(); e < p.n; e += grid_stride()) {
        i64 oa, ob, oy;
        strided_offsets(p, e, oa, ob, oy);
        write_any(p.y, p.y_dtype, oy, p.value);
    }
}

__device__ __forceinline__ float binary_apply(int op, float a, float b) {
    switch (op) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        default: return a / b;
    }
}

template <typename T>
__device__ __forceinline__ void binary_impl(const StridedParams& p) {
    for (i64 e = global_thread(); e < p.n; e += grid_stride()) {
        i64 oa, ob, oy;
        strided_offsets(p, e, oa, ob, oy);
        st_f32((T*)p.y + oy, binary_apply(p.op, ld_f32((const T*)p.a + oa), ld_f32((const T*)p.b + ob)));
    }
}

extern "C" __global__ void binary_fwd_f32(StridedParams p) { binary_impl<float>(p); }
extern "C" __global__ void binary_fwd_bf16(StridedParams p) { binary_impl<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void reduce_cols_impl(const T* x, T* y, int outer, int r, int inner, int mean) {
    const i64 e = global_thread();
    if (e >= (i64)outer * inner) return;
    const i64 o = e / inner, i = e - o * inner;
    const T* col = x + o * r * inner + i;
    float s = 0.0f;
    for (int k = 0; k < r; ++k) s += ld_f32(col + (i64)k * inner);
    st_f32(y + e, mean ? s / (float)r : s);
}

extern "C" __global__ void reduce_cols_fwd_f32(const float* x, float* y, int outer, int r, int inner, int mean) {
    reduce_cols_impl(x, y, outer, r, inner, mean);
}
extern "C" __global__ void reduce_cols_fwd_bf16(const bf16_t* x, bf16_t* y, int outer, int r, int inner, int mean) {
    reduce_cols_impl(x, y, outer, r, inner, mean);
}
