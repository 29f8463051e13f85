// softmax.cu — softmax over the last dimension with an optional scale, additive key mask and causal mask.
//
// defines:  softmax_fwd_f32, softmax_fwd_bf16, softmax_bwd_f32, softmax_bwd_bf16
// math:     row r belongs to batch b = r / per_batch and is query i = r mod Tq; columns j ∈ [0, Tk)
//           s[r,j] = scale · x[r,j] + mask[b,j]                      (mask optional, additive, dtype of x)
//           j is excluded when causal and j > i + (Tk − Tq)          (the query sits at the end of the keys)
//           y[r,j] = exp(s[r,j] − m[r]) / Σ_{j' kept} exp(s[r,j'] − m[r])   for kept j, m[r] = max over kept j
//           y[r,j] = 0 for excluded j; a row with every key excluded is all 0
//           backward: dx[r,j] = scale · y[r,j] · (dy[r,j] − Σ_j' dy[r,j']·y[r,j'])   (excluded j: y = 0 → dx = 0)
// shapes:   x, y, dy, dx (rows, Tk) row-major contiguous, f32 or bf16, rows = B·per_batch (per_batch is H·Tq for
//           attention scores (B, H, Tq, Tk)); mask (B, Tk) dtype of x, or null. Without mask, B = 1.
// launch:   one warp per row: grid ceil_div(rows, 8), block 256
// floor:    memory-bound, rows·Tk·(in + out) bytes (+ mask reads, L2-resident); not yet measured on a device.
// variants: default only: a single online pass (running max and rescaled sum) then one output pass
// ref:      src/Med2E3.Native.Ops/Ops/Softmax.cs → Softmax.Reference / Softmax.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (NormAndSoftmaxConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of softmax_fwd_* and softmax_bwd_*.
struct SoftmaxParams {
    const void* x;      // fwd: (rows, Tk) input.   bwd: y, the forward output
    const void* dy;     // bwd: (rows, Tk) upstream gradient; fwd: unused (null)
    void* y;            // fwd: (rows, Tk) output.  bwd: dx
    const void* mask;   // (B, Tk) additive key mask, dtype of x, or null
    int rows;           // B·per_batch
    int cols;           // Tk
    int tq;             // Tq: the query index of row r is r mod Tq
    int per_batch;      // rows per batch entry: row r uses mask row r / per_batch
    float scale;        // multiplies x before the mask is added
    int causal;         // 1: exclude keys j > i + (Tk − Tq)
};
static_assert(sizeof(SoftmaxParams) == 56, "SoftmaxParams layout is mirrored in C#");

// Last kept key index + 1 for row r (Tk when not causal). Can be ≤ 0: the row has no kept key.
__device__ __forceinline__ int softmax_kept_end(const SoftmaxParams& p, int r) {
    if (!p.causal) return p.cols;
    const int i = r % p.tq;
    return min(p.cols, i + (p.cols - p.tq) + 1);
}

template <typename T>
__device__ __forceinline__ void softmax_fwd_warp(const SoftmaxParams& p) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const int Tk = p.cols;
    const T* x = (const T*)p.x + (size_t)r * Tk;
    T* y = (T*)p.y + (size_t)r * Tk;
    const T* mask = p.mask ? (const T*)p.mask + (size_t)(r / p.per_batch) * Tk : nullptr;
    const int end = softmax_kept_end(p, r);
    // Each lane keeps its own running max and rescaled sum over its strided columns; the 32 partial states merge at
    // the end. One read of the row instead of two.
    float m = neg_inf(), l = 0.0f;
    for (int j = lane; j < end; j += 32) softmax_push(m, l, p.scale * ld_f32(x + j) + (mask ? ld_f32(mask + j) : 0.0f));
    softmax_merge_warp(m, l);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int j = lane; j < Tk; j += 32) {
        float v = 0.0f;
        if (j < end && m != neg_inf()) v = expf(p.scale * ld_f32(x + j) + (mask ? ld_f32(mask + j) : 0.0f) - m) * inv;
        st_f32(y + j, v);
    }
}

extern "C" __global__ void softmax_fwd_f32(SoftmaxParams p) { softmax_fwd_warp<float>(p); }
extern "C" __global__ void softmax_fwd_bf16(SoftmaxParams p) { softmax_fwd_warp<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void softmax_bwd_warp(const SoftmaxParams& p) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const size_t off = (size_t)r * p.cols;
    const T* y = (const T*)p.x + off;
    const T* dy = (const T*)p.dy + off;
    T* dx = (T*)p.y + off;
    float s = 0.0f;
    for (int j = lane; j < p.cols; j += 32) s += ld_f32(dy + j) * ld_f32(y + j);
    s = warp_sum(s);
    for (int j = lane; j < p.cols; j += 32) st_f32(dx + j, p.scale * ld_f32(y + j) * (ld_f32(dy + j) - s));
}

extern "C" __global__ void softmax_bwd_f32(SoftmaxParams p) { softmax_bwd_warp<float>(p); }
extern "C" __global__ void softmax_bwd_bf16(SoftmaxParams p) { softmax_bwd_warp<bf16_t>(p); }
