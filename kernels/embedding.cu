// embedding.cu — row lookup in an embedding table, and its scatter-add backward.
//
// defines:  embedding_fwd_f32, embedding_fwd_bf16, embedding_bwd_f32, embedding_bwd_bf16
// math:     y[n, c] = table[ids[n], c]                      (ids outside [0, V) give a zero row)
//           dtable[ids[n], c] += dy[n, c]  for every n      (accumulated with f32 atomics; ids outside [0, V) are
//                                                            skipped; repeated ids add up)
// shapes:   ids (N) int32 or int64 (ids64 = 1); table (V, C) and y, dy (N, C) row-major contiguous, f32 or bf16;
//           dtable (V, C) is always an f32 accumulator: the caller zeroes it (or passes a gradient to add to) and,
//           for a bf16 table, casts it afterwards (cast.cu).
// launch:   fwd: one thread per 4 elements when C % 4 == 0 and rows are aligned, else per element:
//                grid ceil_div(N·C/4, 256) (or ceil_div(N·C, 256)), block 256
//           bwd: one thread per element of dy: grid ceil_div(N·C, 256), block 256
// floor:    memory-bound, N·C·(2 sizeof T) bytes forward; the backward is atomic-bound when ids repeat.
//           Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Embedding.cs → Embedding.Reference / Embedding.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (IndexingAndLossConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of every embedding kernel.
struct EmbeddingParams {
    const void* ids;    // (N) row indices, int32 or int64
    const void* table;  // fwd: (V, C) table, dtype T
    void* y;            // fwd: (N, C) output, dtype T
    const void* dy;     // bwd: (N, C) upstream gradient, dtype T
    float* dtable;      // bwd: (V, C) f32 accumulator
    int n;              // N
    int vocab;          // V
    int cols;           // C
    int ids64;          // 1: ids are int64, 0: int32
};
static_assert(sizeof(EmbeddingParams) == 56, "EmbeddingParams layout is mirrored in C#");

template <typename T>
__device__ __forceinline__ void embedding_fwd_impl(const EmbeddingParams& p) {
    const T* table = (const T*)p.table;
    T* y = (T*)p.y;
    const size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    // Four elements per thread when every row start allows a vector access: a row of C bf16 is C/4 8-byte loads.
    if ((p.cols & 3) == 0 && vec4_ok(table) && vec4_ok(y)) {
        const size_t c4 = p.cols / 4;
        if (t >= (size_t)p.n * c4) return;
        const size_t r = t / c4, c = (t - r * c4) * 4;
        const long long id = ld_index(p.ids, p.ids64, r);
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (id >= 0 && id < p.vocab) ld4_f32(table + (size_t)id * p.cols + c, v);
        st4_f32(y + r * p.cols + c, v);
    } else {
        if (t >= (size_t)p.n * p.cols) return;
        const size_t r = t / p.cols, c = t - r * p.cols;
        const long long id = ld_index(p.ids, p.ids64, r);
        st_f32(y + t, (id >= 0 && id < p.vocab) ? ld_f32(table + (size_t)id * p.cols + c) : 0.0f);
    }
}

extern "C" __global__ void embedding_fwd_f32(EmbeddingParams p) { embedding_fwd_impl<float>(p); }
extern "C" __global__ void embedding_fwd_bf16(EmbeddingParams p) { embedding_fwd_impl<bf16_t>(p); }

// Atomics because two tokens with the same id hit the same row; consecutive threads touch consecutive columns, so
// the atomics of a warp go to one 128-byte line.
template <typename T>
__device__ __forceinline__ void embedding_bwd_impl(const EmbeddingParams& p) {
    const size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (size_t)p.n * p.cols) return;
    const size_t r = t / p.cols, c = t - r * p.cols;
    const long long id = ld_index(p.ids, p.ids64, r);
    if (id < 0 || id >= p.vocab) return;
    atomicAdd(p.dtable + (size_t)id * p.cols + c, ld_f32((const T*)p.dy + t));
}

extern "C" __global__ void embedding_bwd_f32(EmbeddingParams p) { embedding_bwd_impl<float>(p); }
extern "C" __global__ void embedding_bwd_bf16(EmbeddingParams p) { embedding_bwd_impl<bf16_t>(p); }
