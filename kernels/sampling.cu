// sampling.cu — argmax, top-k and seeded temperature / top-k / top-p sampling along the last axis.
//
// defines:  argmax_fwd_f32, argmax_fwd_bf16, topk_fwd_f32, topk_fwd_bf16, sample_topp_fwd_f32, sample_topp_fwd_bf16
// math:     argmax:  y[n] = the smallest v with x[n, v] = max_v x[n, v]      (first maximum; the first NaN wins,
//                    as in torch)
//           top-k:   values[n, :] = the k largest x[n, :] in descending order, indices[n, :] their positions;
//                    equal values keep the lower index first, so the result is one fixed permutation.
//           Top-k compares floats through an order-preserving 32-bit key (sign-flipped bits) with −0 folded onto +0
//           (they compare equal) and every NaN below −inf — the order of .NET's CompareTo, which the CPU reference
//           sorts with. The values written are the inputs themselves (a −0 stays −0).
//           sample:  one row x (V), temperature t > 0, draw u ∈ [0, 1) from the host generator:
//                    m = max x;  q[v] = round_even(exp((x[v] − m) / t) · 2^32)  (double; integer weights)
//                    top-k (0 < k < V): keep x[v] ≥ the k-th largest value (ties at the boundary all stay)
//                    top-p (p < 1):     walk the kept tokens by (x desc, index asc); token j stays iff it is the
//                                       first or (double)Σ_{before j} q < p · (double)Σ_kept q
//                    draw:  Q = Σ_kept q, target = min(⌊u · (double)Q⌋, Q − 1); y = first kept v in index order
//                           with Σ_{kept v' ≤ v} q[v'] > target.  y = −1 when x holds a NaN or +inf or no finite
//                           value.  The sums are integers, so their order cannot change the result.
// shapes:   x (N, V) row-major contiguous, f32 or bf16; y (N) int64; values (N, k) dtype of x; indices (N, k) int64.
//           1 ≤ k ≤ min(V, 1024).  sample: x (V), y (1) int64.
// launch:   argmax: one block per row, grid N, block 256.
//           top-k:  one block per row, grid N, block 256: a 4-pass radix select finds the k-th largest key (8 bits
//           per pass, a 256-bin shared histogram), one pass collects the candidates (ties by lowest index through a
//           block-wide ordered count), and a bitonic sort of ≤ 1024 candidates in shared memory orders them.
//           sample: grid 1, block 256 (exactly): a max pass, the top-k radix select by count, a radix select by
//           integer mass for the top-p boundary key, then an index-ordered scan over 256 contiguous segments.
// floor:    memory-bound: argmax reads N·V·sizeof(T) once; top-k reads it 5 times, sample up to 13 times (L2-resident
//           for one row of 32064). Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Sampling.cs → Sampling.ArgmaxReference, Sampling.TopKReference,
//           Sampling.SampleReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (IndexingAndLossConformanceTests, SampleTopPConformanceTests, SharedOpCaseTests)
//           bench: none (memory-bound, off the critical path)

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

// Radix select by count, most significant byte first: returns the k-th largest float_key τ of row[0, cols) and sets
// `need` to how many keys equal to τ complete the k (k − need keys are > τ). After the pass on bits [shift, shift+8)
// the running prefix holds the top bits of τ. Called by every thread of the block; `stride` is the block size;
// hist[256], s_prefix and s_need are the caller's shared scratch.
template <typename T>
__device__ __forceinline__ unsigned int radix_select_kth_key(const T* row, int cols, unsigned int k, int stride,
                                                             unsigned int* hist, unsigned int& s_prefix,
                                                             unsigned int& s_need, unsigned int& need) {
    const int tid = threadIdx.x;
    unsigned int prefix = 0, mask = 0;
    need = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += stride) hist[i] = 0;
        __syncthreads();
        for (int v = tid; v < cols; v += stride) {
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
    return prefix;
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

    // 1. The k-th largest key τ (radix select by count) and how many keys equal to τ are still needed.
    unsigned int need;
    const unsigned int prefix = radix_select_kth_key(row, p.cols, (unsigned int)k, (int)blockDim.x, hist, s_prefix,
                                                     s_need, need);
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

// ---- seeded temperature / top-k / top-p sampling ------------------------------------------------------------------

// Arguments of sample_topp_fwd_*.
struct SampleParams {
    const void* x;       // (V) logits, f32 or bf16
    long long* out;      // (1) the sampled id, or −1 for a NaN, a +inf or no finite logit
    double temperature;  // > 0 (the host runs argmax for temperature ≤ 0)
    double top_p;        // nucleus mass; ≥ 1 disables the cut
    double u;            // uniform draw in [0, 1) from the host generator
    int cols;            // V
    int top_k;           // ≤ 0 or ≥ V disables the cut
};
static_assert(sizeof(SampleParams) == 48, "SampleParams layout is mirrored in C#");

#define SAMPLE_THREADS 256

// Inverse of float_key for non-NaN keys.
__device__ __forceinline__ float key_float(unsigned int key) {
    return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// Integer weight of a logit: the weight of the maximum is 2^32 exactly. Every step is a correctly rounded IEEE
// double operation except exp, so the CPU reference gets the same integer unless the two exp results straddle a
// rounding midpoint.
__device__ __forceinline__ unsigned long long sample_weight(float x, double m, double t) {
    return __double2ull_rn(exp(((double)x - m) / t) * 4294967296.0);
}

template <typename T>
__device__ __forceinline__ void sample_impl(const SampleParams& p) {
    __shared__ unsigned int hist[256];
    __shared__ unsigned long long hmass[256];
    __shared__ unsigned long long seg_mass[SAMPLE_THREADS];
    __shared__ int seg_ties[SAMPLE_THREADS];
    __shared__ unsigned int s_prefix, s_need, s_maxkey, s_ties;
    __shared__ unsigned long long s_base, s_total, s_target;
    __shared__ int s_bad, s_keep_ties;
    const int tid = threadIdx.x, V = p.cols;
    const T* row = (const T*)p.x;

    // 0. The maximum, and the inputs the reference rejects (NaN, +inf, nothing above −inf).
    if (tid == 0) {
        s_bad = 0;
        s_maxkey = 0u;
        s_total = 0ull;
    }
    __syncthreads();
    unsigned int mk = 0u;
    bool bad = false;
    for (int v = tid; v < V; v += SAMPLE_THREADS) {
        const float x = ld_f32(row + v);
        if (isnan(x) || (isinf(x) && x > 0.0f)) bad = true;
        else mk = max(mk, float_key(x));
    }
    if (bad) atomicOr(&s_bad, 1);
    atomicMax(&s_maxkey, mk);
    __syncthreads();
    const unsigned int neg_inf_key = float_key(neg_inf());
    if (s_bad || s_maxkey <= neg_inf_key) {  // uniform across the block: every thread leaves here
        if (tid == 0) *p.out = -1;
        return;
    }
    const double m = (double)key_float(s_maxkey), t = p.temperature;

    // 1. Top-k threshold τk = the k-th largest key (radix select by count, as in topk_impl); kept: key ≥ τk.
    unsigned int tau_k = neg_inf_key;
    if (p.top_k > 0 && p.top_k < V) {
        unsigned int need;
        tau_k = radix_select_kth_key(row, V, (unsigned int)p.top_k, SAMPLE_THREADS, hist, s_prefix, s_need, need);
    }

    // 2. Top-p boundary. The kept set is a prefix of the (key desc, index asc) order; τp is the key of its last token.
    //    Kept: key > τp, and the first `keep_ties` tokens (by index) with key == τp. Without a cut τp = τk, all ties.
    unsigned int tau_p = tau_k;
    int keep_ties = 0x7fffffff;
    if (p.top_p < 1.0) {
        unsigned long long part = 0;
        for (int v = tid; v < V; v += SAMPLE_THREADS) {
            const float x = ld_f32(row + v);
            if (float_key(x) >= tau_k) part += sample_weight(x, m, t);
        }
        atomicAdd(&s_total, part);  // integer atomics: the total does not depend on their order
        __syncthreads();
        const double limit = p.top_p * (double)s_total;
        // Radix select by mass: a key group starts inside the kept prefix iff the mass of all larger kept keys is
        // < limit (or it is the first group). Within the current prefix region, bin b's largest key has exactly
        // base + Σ_{b' > b} hmass[b'] above it, so the boundary bin is the lowest non-empty bin passing that test.
        unsigned int prefix = 0, mask = 0;
        unsigned long long base = 0;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int i = tid; i < 256; i += SAMPLE_THREADS) {
                hist[i] = 0;
                hmass[i] = 0ull;
            }
            __syncthreads();
            for (int v = tid; v < V; v += SAMPLE_THREADS) {
                const float x = ld_f32(row + v);
                const unsigned int key = float_key(x);
                if (key >= tau_k && (key & mask) == prefix) {
                    const unsigned int b = (key >> shift) & 255u;
                    atomicAdd(&hist[b], 1u);
                    atomicAdd(&hmass[b], sample_weight(x, m, t));
                }
            }
            __syncthreads();
            if (tid == 0) {
                unsigned long long above = base, chosen_above = base;
                int chosen = -1;
                for (int b = 255; b >= 0; --b) {
                    if (hist[b] == 0) continue;
                    if (chosen >= 0 && !((double)above < limit)) break;
                    chosen = b;
                    chosen_above = above;
                    above += hmass[b];
                }
                s_prefix = prefix | ((unsigned int)chosen << shift);
                s_base = chosen_above;
                s_ties = hist[chosen];
            }
            __syncthreads();
            prefix = s_prefix;
            base = s_base;
            mask |= 255u << shift;
        }
        tau_p = prefix;
        // Tied tokens r = 0, 1, … (by index) have base + r·q before them; the first always stays (it starts a kept
        // group), later ones while that mass is < limit.
        if (tid == 0) {
            const unsigned long long q = sample_weight(key_float(tau_p), m, t);
            int c = 1;
            while (c < (int)s_ties && (double)(base + (unsigned long long)c * q) < limit) ++c;
            s_keep_ties = c;
        }
        __syncthreads();
        keep_ties = s_keep_ties;
    }

    // 3. The draw, in index order over 256 contiguous segments: tie ranks, then kept mass per segment, then the one
    //    segment holding the target scans its tokens.
    const int seg = (V + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const int lo = min(V, tid * seg), hi = min(V, lo + seg);
    int ties = 0;
    for (int v = lo; v < hi; ++v) ties += float_key(ld_f32(row + v)) == tau_p;
    seg_ties[tid] = ties;
    __syncthreads();
    if (tid == 0) {
        int run = 0;
        for (int i = 0; i < SAMPLE_THREADS; ++i) {
            const int c = seg_ties[i];
            seg_ties[i] = run;
            run += c;
        }
    }
    __syncthreads();
    int rank = seg_ties[tid];
    unsigned long long mine = 0;
    for (int v = lo; v < hi; ++v) {
        const float x = ld_f32(row + v);
        const unsigned int key = float_key(x);
        if (key > tau_p || (key == tau_p && rank++ < keep_ties)) mine += sample_weight(x, m, t);
    }
    seg_mass[tid] = mine;
    __syncthreads();
    if (tid == 0) {
        unsigned long long run = 0;
        for (int i = 0; i < SAMPLE_THREADS; ++i) {
            const unsigned long long c = seg_mass[i];
            seg_mass[i] = run;
            run += c;
        }
        unsigned long long target = (unsigned long long)(p.u * (double)run);
        s_target = target < run ? target : run - 1;  // run ≥ 2^32: the maximum is always kept
    }
    __syncthreads();
    const unsigned long long start = seg_mass[tid], target = s_target;
    if (mine == 0 || target < start || target >= start + mine) return;
    unsigned long long acc = start;
    rank = seg_ties[tid];
    for (int v = lo; v < hi; ++v) {
        const float x = ld_f32(row + v);
        const unsigned int key = float_key(x);
        if (key > tau_p || (key == tau_p && rank++ < keep_ties)) {
            acc += sample_weight(x, m, t);
            if (acc > target) {
                *p.out = v;
                return;
            }
        }
    }
}

extern "C" __global__ void sample_topp_fwd_f32(SampleParams p) { sample_impl<float>(p); }
extern "C" __global__ void sample_topp_fwd_bf16(SampleParams p) { sample_impl<bf16_t>(p); }
