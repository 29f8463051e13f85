// cross_entropy.cu — per-row cross-entropy with a fused log-softmax and ignore_index, forward and backward.
//
// defines:  cross_entropy_fwd_f32, cross_entropy_fwd_bf16, cross_entropy_bwd_f32, cross_entropy_bwd_bf16
// math:     lse[n]    = log Σ_v exp(logits[n, v])                 (max-shifted, f32)
//           losses[n] = lse[n] − logits[n, t]   with t = targets[n]; 0 when t == ignore_index;
//                       NaN when t is outside [0, V) and not ignore_index (the CPU reference throws there)
//           backward: dlogits[n, v] = dloss[n] · (exp(logits[n, v] − lse[n]) − [v == t]);  a zero row when ignored
//           (the mean over valid rows is a separate reduction, so dloss already carries 1/count)
// shapes:   logits, dlogits (N, V) row-major contiguous, f32 or bf16; targets (N) int32 or int64;
//           losses, dloss, lse (N) f32 (lse saved for the backward).
// launch:   one block per row: grid N, block 256. The forward reads each logit once (per-thread running max and
//           rescaled sum, merged across the block); the backward reads it once more and writes once.
// floor:    memory-bound: forward N·V·sizeof(T) bytes, backward 2·N·V·sizeof(T) (Phi-3 vocab 32064).
//           Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/CrossEntropy.cs → CrossEntropy.Reference / CrossEntropy.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (IndexingAndLossConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of cross_entropy_fwd_* and cross_entropy_bwd_*.
struct CrossEntropyParams {
    const void* logits;      // (N, V)
    const void* targets;     // (N) int32 or int64
    float* losses;           // fwd: (N) per-row loss
    float* lse;              // (N) log-sum-exp: written by fwd, read by bwd
    const float* dloss;      // bwd: (N) upstream gradient of losses
    void* dlogits;           // bwd: (N, V) output
    long long ignore_index;  // rows with this target are skipped (−100 in the training recipe)
    int rows;                // N
    int vocab;               // V
    int targets64;           // 1: targets are int64, 0: int32
    int pad_;                // keeps the size a multiple of 8
};
static_assert(sizeof(CrossEntropyParams) == 72, "CrossEntropyParams layout is mirrored in C#");

template <typename T>
__device__ __forceinline__ void cross_entropy_fwd_impl(const CrossEntropyParams& p) {
    __shared__ float sm[32], sl[32];
    const int n = blockIdx.x;
    const T* row = (const T*)p.logits + (size_t)n * p.vocab;
    float m = neg_inf(), l = 0.0f;
    for (int v = threadIdx.x; v < p.vocab; v += blockDim.x) softmax_push(m, l, ld_f32(row + v));
    softmax_merge_warp(m, l);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sm[warp] = m;
        sl[warp] = l;
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    for (int w = 1; w < (int)(blockDim.x >> 5); ++w) softmax_merge(sm[0], sl[0], sm[w], sl[w]);
    const float lse = sm[0] + logf(sl[0]);
    p.lse[n] = lse;
    const long long t = ld_index(p.targets, p.targets64, n);
    float loss;
    if (t == p.ignore_index) loss = 0.0f;
    else if (t < 0 || t >= p.vocab) loss = __int_as_float(0x7fc00000);
    else loss = lse - ld_f32(row + t);
    p.losses[n] = loss;
}

extern "C" __global__ void cross_entropy_fwd_f32(CrossEntropyParams p) { cross_entropy_fwd_impl<float>(p); }
extern "C" __global__ void cross_entropy_fwd_bf16(CrossEntropyParams p) { cross_entropy_fwd_impl<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void cross_entropy_bwd_impl(const CrossEntropyParams& p) {
    const int n = blockIdx.x;
    const T* row = (const T*)p.logits + (size_t)n * p.vocab;
    T* drow = (T*)p.dlogits + (size_t)n * p.vocab;
    const long long t = ld_index(p.targets, p.targets64, n);
    const bool ignored = t == p.ignore_index;
    const float g = ignored ? 0.0f : p.dloss[n];
    const float lse = p.lse[n];
    for (int v = threadIdx.x; v < p.vocab; v += blockDim.x) {
        const float d = ignored ? 0.0f : g * (expf(ld_f32(row + v) - lse) - (v == t ? 1.0f : 0.0f));
        st_f32(drow + v, d);
    }
}

extern "C" __global__ void cross_entropy_bwd_f32(CrossEntropyParams p) { cross_entropy_bwd_impl<float>(p); }
extern "C" __global__ void cross_entropy_bwd_bf16(CrossEntropyParams p) { cross_entropy_bwd_impl<bf16_t>(p); }
