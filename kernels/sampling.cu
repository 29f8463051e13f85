// sampling.cu — argmax and top-k along the last axis (greedy decoding and the candidate set of top-k/top-p sampling).
//
// defines:  argmax_fwd_f32, argmax_fwd_bf16, topk_fwd_f32, topk_fwd_bf16
// math:     argmax:  y[n] = the smallest v with x[n, v] = max_v x[n, v]      (first maximum; the first NaN wins,
//                    as in torch)
//           top-k:   values[n, :] = the k largest x[n, :] in descending order, indices[n, :] their positions;
//                    equal values keep the lower index first, so the result is one fixed permutation.
//           Top-k compares floats through an order-preserving 32-bit key (sign-flipped bits) with −0 folded onto +0
//           (they compare equal) and every NaN below −inf — the order of .NET's CompareTo, which the CPU reference
//           sorts with. The values written are the inputs themselves (a −0 stays −0).
//           Sampling itself (temperature, top-p cut, the draw from a provided uniform number) runs on the host over
//           these k candidates: it touches k ≤ 1024 numbers, not the 32064-entry vocabulary.
// shapes:   x (N, V) row-major contiguous, f32 or bf16; y (N) int64; values (N, k) dtype of x; indices (N, k) int64.
//           1 ≤ k ≤ min(V, 1024).
// launch:   argmax: one block per row, grid N, block 256.
//           top-k:  one block per row, grid N, block 256: a 4-pass radix select finds the k-th largest key (8 bits
//           per pass, a 256-bin shared histogram), one pass collects the candidates (ties by lowest index through a
//           block-wide ordered count), and a bitonic sort of ≤ 1024 candidates in shared memory orders them.
// floor:    memory-bound: argmax reads N·V·sizeof(T) once; top-k reads it 5 times (L2-resident for one row of
//           32064). Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Sampling.cs → Sampling.ArgmaxReference, Sampling.TopKReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (IndexingAndLossConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of argmax_fwd_* and topk_fwd_*.
struct TopKParams {
    const void* x;       // (N, V) input
    void* values;        // top-k: (N, k) values, dtype of x; argmax: unused
    long long* indices;  // top-k: (N, k); argmax: (N)
    int rows;            // N
    int cols;            // V
    int k;               // top-k: number kept (≤ 1024); argmax: unused
    int pad_;            // keeps the size a multiple of 8
};
static_assert(sizeof(TopKParams) == 40, "TopKParams layout is mirrored in C#");

#define TOPK_MAX 1024

// Larger float ↔ larger unsigned key; −0 maps to the key of +0 and every NaN to 0, below the key of −inf
// (0x007fffff).
__device__ __forceinline__ unsigned int float_key(float f) {
    if (isnan(f)) return 0u;
    const unsigned int u = f == 0.0f ? 0u : __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// (value, index) pair order for argmax: a NaN beats every number, then a larger value wins, and among equals (or
// NaNs) the lower index wins.
__device__ __forceinline__ bool argmax_better(float v, int i, float bv, int bi) {
    const bool vn = isnan(v), bn = isnan(bv);
    if (vn || bn) return vn && (!bn || i < bi);
    return v > bv || (v == bv && i < bi);
}

template <typename T>
__device__ __forceinline__ void argmax_impl(const TopKParams& p) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const int n = blockIdx.x;
    const T* row = (const T*)p.x + (size_t)n * p.cols;
    float bv = neg_inf();
    int bi = 0x7fffffff;
    for (int v = threadIdx.x; v < p.cols; v += blockDim.x) {
        const float x = ld_f32(row + v);
        if (argmax_better(x, v, bv, bi)) {
            bv = x;
            bi = v;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float v2 = __shfl_xor_sync(0xffffffffu, bv, o);
        const int i2 = __shfl_xor_sync(0xffffffffu, bi, o);
        if (argmax_better(v2, i2, bv, bi)) {
            bv = v2;
            bi = i2;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
        if (argmax_better(sv[w], si[w], bv, bi)) {
            bv = sv[w];
            bi = si[w];
        }
    p.indices[n] = bi == 0x7fffffff ? 0 : bi;  // only for an empty row
}

extern "C" __global__ void argmax_fwd_f32(TopKParams p) { argmax_impl<float>(p); }
extern "C" __global__ void argmax_fwd_bf16(TopKParams p) { argmax_impl<bf16_t>(p); }

// Candidate a precedes b in the output: larger key first, lower index among equal keys.
__device__ __forceinline__ bool topk_before(unsigned int ka, int ia, unsigned int kb, int ib) {
    return ka > kb || (ka == kb && ia < ib);
}

template <typename T>
__device__ __forceinline__ void topk_impl(const TopKParams& p) {
    __shared__ unsigned int hist[256];
    __shared__ unsigned int ckey[TOPK_MAX];
    __shared__ int cidx[TOPK_MAX];
    __shared__ int warp_eq[32];
    __shared__ unsigned int s_prefix, s_need;
    __shared__ int s_gt, s_eq_seen;
    const int n = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
    const T* row = (const T*)p.x + (size_t)n * p.cols;
    const int k = p.k;

    // 1. Radix select, most significant byte first: after the pass on bits [shift, shift+8), `prefix` holds the top
    //    bits of the k-th largest key and `need` how many keys with exactly that prefix are still to be taken.
    unsigned int prefix = 0, mask = 0, need = (unsigned int)k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += blockDim.x) hist[i] = 0;
        __syncthreads();
        for (int v = tid; v < p.cols; v += blockDim.x) {
            const unsigned int key = float_key(ld_f32(row + v));
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            unsigned int above = 0;
            for (int b = 255; b >= 0; --b) {
                if (above + hist[b] >= need) {
                    s_prefix = prefix | ((unsigned int)b << shift);
                    s_need = need - above;
                    break;
                }
                above += hist[b];
            }
        }
        __syncthreads();
        prefix = s_prefix;
        need = s_need;
        mask |= 255u << shift;
    }
    // `prefix` is now the full k-th largest key τ: k − need keys are > τ, and the `need` lowest-index keys == τ join.
    const int ngt = k - (int)need;
    if (tid == 0) {
        s_gt = 0;
        s_eq_seen = 0;
    }
    __syncthreads();

    // 2. Collect. Keys > τ take any free slot in [0, ngt) (they are sorted next). Keys == τ are ranked in index order:
    //    within a chunk of blockDim consecutive columns by ballot, across chunks by the running count s_eq_seen.
    for (int base = 0; base < p.cols; base += blockDim.x) {
        const int v = base + tid;
        const unsigned int key = v < p.cols ? float_key(ld_f32(row + v)) : 0u;
        if (v < p.cols && key > prefix) {
            const int slot = atomicAdd(&s_gt, 1);
            ckey[slot] = key;
            cidx[slot] = v;
        }
        const bool eq = v < p.cols && key == prefix;
        const unsigned int ballot = __ballot_sync(0xffffffffu, eq);
        if (lane == 0) warp_eq[warp] = __popc(ballot);
        __syncthreads();
        if (eq) {
            int rank = s_eq_seen + __popc(ballot & ((1u << lane) - 1u));
            for (int w = 0; w < warp; ++w) rank += warp_eq[w];
            if (rank < (int)need) {
                ckey[ngt + rank] = key;
                cidx[ngt + rank] = v;
            }
        }
        __syncthreads();
        if (tid == 0)
            for (int w = 0; w < nwarps; ++w) s_eq_seen += warp_eq[w];
        __syncthreads();
    }

    // 3. Bitonic sort of the candidates, padded to a power of two with entries that sort last (key 0 and the
    //    largest index: after any real candidate, NaNs included).
    int n2 = 1;
    while (n2 < k) n2 <<= 1;
    for (int i = k + tid; i < n2; i += blockDim.x) {
        ckey[i] = 0u;
        cidx[i] = 0x7fffffff;
    }
    __syncthreads();
    for (int size = 2; size <= n2; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = tid; i < n2; i += blockDim.x) {
                const int j = i ^ stride;
                if (j <= i) continue;
                const bool up = (i & size) == 0;  // this pair belongs to a run sorted best-first
                if (up == topk_before(ckey[j], cidx[j], ckey[i], cidx[i])) {
                    const unsigned int tk = ckey[i];
                    const int ti = cidx[i];
                    ckey[i] = ckey[j];
                    cidx[i] = cidx[j];
                    ckey[j] = tk;
                    cidx[j] = ti;
                }
            }
            __syncthreads();
        }
    }
    for (int i = tid; i < k; i += blockDim.x) {
        st_f32((T*)p.values + (size_t)n * k + i, ld_f32(row + cidx[i]));
        p.indices[(size_t)n * k + i] = cidx[i];
    }
}

extern "C" __global__ void topk_fwd_f32(TopKParams p) { topk_impl<float>(p); }
extern "C" __global__ void topk_fwd_bf16(TopKParams p) { topk_impl<bf16_t>(p); }
