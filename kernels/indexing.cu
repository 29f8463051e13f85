// indexing.cu — index_select and gather along one axis, and their scatter-add backwards.
//
// defines:  index_select_fwd_f32, index_select_fwd_bf16, index_select_bwd_f32, index_select_bwd_bf16,
//           gather_fwd_f32, gather_fwd_bf16, gather_bwd_f32, gather_bwd_bf16
// math:     tensors are viewed as (Outer, N, Inner) with the indexed axis in the middle.
//           index_select: y[o, m, i] = x[o, ids[m], i]                  ids (M)
//           gather:       y[o, m, i] = x[o, index[o, m, i], i]          index (Outer, M, Inner)
//           an index outside [0, N) reads 0 (the CPU reference rejects it before launching)
//           backward (scatter-add): acc[o, ids[m], i] += dy[o, m, i]   resp. acc[o, index[o, m, i], i] += dy[o, m, i]
//           with f32 atomics, so repeated indices add up; out-of-range indices are skipped.
// shapes:   x (Outer, N, Inner), y, dy (Outer, M, Inner), row-major contiguous, f32 or bf16; ids/index int32 or
//           int64; acc (Outer, N, Inner) f32 accumulator, zeroed by the caller (for bf16 cast afterwards).
// launch:   one thread per element of y / dy: grid ceil_div(Outer·M·Inner, 256), block 256; Inner is fastest, so
//           reads and writes are coalesced whenever Inner ≥ 32.
// floor:    memory-bound, (in + out) bytes; the backwards are atomic-bound when indices repeat.
//           Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Indexing.cs → Indexing.IndexSelectReference / .IndexAddReference,
//           Indexing.GatherReference / .ScatterAddReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (IndexingAndLossConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of every kernel in this file.
struct IndexParams {
    const void* src;    // fwd: x (Outer, N, Inner); bwd: dy (Outer, M, Inner)
    const void* index;  // index_select: ids (M); gather: index (Outer, M, Inner)
    void* y;            // fwd: (Outer, M, Inner) output
    float* acc;         // bwd: (Outer, N, Inner) f32 accumulator
    int outer;          // Outer
    int n;              // N, extent of the indexed axis of x
    int m;              // M, extent of that axis in y
    int inner;          // Inner
    int index64;        // 1: indices are int64, 0: int32
    int pad_;           // keeps the size a multiple of 8
};
static_assert(sizeof(IndexParams) == 56, "IndexParams layout is mirrored in C#");

// Splits the flat index of an (Outer, M, Inner) element and returns the source row it reads (or scatters to).
template <bool PerElementIndex>
__device__ __forceinline__ long long index_row(const IndexParams& p, size_t e, size_t& o, size_t& i) {
    i = e % p.inner;
    const size_t om = e / p.inner;
    o = om / p.m;
    return ld_index(p.index, p.index64, PerElementIndex ? e : om % p.m);
}

template <typename T, bool PerElementIndex>
__device__ __forceinline__ void index_fwd(const IndexParams& p) {
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)p.outer * p.m * p.inner) return;
    size_t o, i;
    const long long r = index_row<PerElementIndex>(p, e, o, i);
    const float v = (r >= 0 && r < p.n) ? ld_f32((const T*)p.src + (o * p.n + (size_t)r) * p.inner + i) : 0.0f;
    st_f32((T*)p.y + e, v);
}

template <typename T, bool PerElementIndex>
__device__ __forceinline__ void index_bwd(const IndexParams& p) {
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)p.outer * p.m * p.inner) return;
    size_t o, i;
    const long long r = index_row<PerElementIndex>(p, e, o, i);
    if (r < 0 || r >= p.n) return;
    atomicAdd(p.acc + (o * p.n + (size_t)r) * p.inner + i, ld_f32((const T*)p.src + e));
}

extern "C" __global__ void index_select_fwd_f32(IndexParams p) { index_fwd<float, false>(p); }
extern "C" __global__ void index_select_fwd_bf16(IndexParams p) { index_fwd<bf16_t, false>(p); }
extern "C" __global__ void index_select_bwd_f32(IndexParams p) { index_bwd<float, false>(p); }
extern "C" __global__ void index_select_bwd_bf16(IndexParams p) { index_bwd<bf16_t, false>(p); }
extern "C" __global__ void gather_fwd_f32(IndexParams p) { index_fwd<float, true>(p); }
extern "C" __global__ void gather_fwd_bf16(IndexParams p) { index_fwd<bf16_t, true>(p); }
extern "C" __global__ void gather_bwd_f32(IndexParams p) { index_bwd<float, true>(p); }
extern "C" __global__ void gather_bwd_bf16(IndexParams p) { index_bwd<bf16_t, true>(p); }
