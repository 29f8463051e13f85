// layernorm.cu — LayerNorm over the last dimension, forward and backward.
//
// defines:  layernorm_fwd_f32_v1, layernorm_fwd_f32 (default), layernorm_fwd_bf16,
//           layernorm_bwd_dx_f32, layernorm_bwd_dx_bf16, layernorm_bwd_wb_f32, layernorm_bwd_wb_bf16,
//           layernorm_bwd_wb_reduce_f32, layernorm_bwd_wb_reduce_bf16
// math:     mean[r] = Σc x[r,c] / C
//           rstd[r] = 1 / sqrt(Σc (x[r,c] − mean[r])² / C + eps)          (biased variance, two passes)
//           y[r,c]  = (x[r,c] − mean[r]) · rstd[r] · w[c] + b[c]           (w null: 1, b null: 0)
//           backward, with x̂ = (x − mean)·rstd and g = dy·w:
//           dx[r,c] = rstd[r] · (g[r,c] − mean_c(g[r,:]) − x̂[r,c] · mean_c(g[r,:]·x̂[r,:]))
//           dw[c]   = Σr dy[r,c]·x̂[r,c]      db[c] = Σr dy[r,c]
//           mean = null selects RMSNorm's gradient (x̂ = x·rstd, no centring: the mean(g) term drops out);
//           rmsnorm.cu's backward is these kernels
// shapes:   x, y, dy, dx (N, C) row-major contiguous, dtype f32 or bf16; w, b, dw, db (C) same dtype;
//           mean, rstd (N) always f32, written by the forward and read by the backward.
// launch:   fwd_f32_v1     one thread per row     grid ceil_div(N, 256)               block 256
//           fwd_*          one warp per row       grid ceil_div(N, 8)                 block 256 (8 warps)
//           bwd_dx_*       one warp per row       grid ceil_div(N, 8)                 block 256
//           bwd_wb_*       thread per column, one row chunk per blockIdx.y
//                                                 grid (ceil_div(C, 256), chunks)     block 256
//                          writes partial sums partial[2][chunks][C] (f32 scratch)
//           bwd_wb_reduce_* thread per column     grid ceil_div(C, 256)               block 256
// floor:    memory-bound: the forward moves N·C·(in + out) bytes (bf16: 4 B per element); target ≥ 2 TB/s on
//           H100 SXM for 8192×1024 bf16 (PERFORMANCE.md). Not yet measured on a device.
// variants: v1 teaching (direct port of the CPU loop, one thread per row, uncoalesced);
//           default (no suffix): one warp per row, 4-wide vector loads when C % 4 == 0, row re-read from L1
// ref:      src/Med2E3.Native.Ops/Ops/LayerNorm.cs → LayerNorm.Reference / LayerNorm.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (NormAndSoftmaxConformanceTests, SharedOpCaseTests)    bench: med2e3-bench kernels --op layernorm

#include "common.cuh"

// Arguments of every layernorm_fwd_* kernel.
struct LayerNormParams {
    const void* x;      // (N, C) input, f32 or bf16
    const void* w;      // (C) scale, same dtype as x, or null for no scale
    const void* b;      // (C) shift, same dtype as x, or null for no shift
    void* y;            // (N, C) output, same dtype as x
    float* mean;        // (N) saved row means, f32
    float* rstd;        // (N) saved reciprocal standard deviations, f32
    int rows;           // N
    int cols;           // C
    float eps;          // added to the variance before the square root
    int pad_;           // keeps the size a multiple of 8 on both sides
};
static_assert(sizeof(LayerNormParams) == 64, "LayerNormParams layout is mirrored in C#");

// Arguments of every layernorm_bwd_dx_* kernel.
struct LayerNormBwdParams {
    const void* dy;     // (N, C) upstream gradient, dtype of x
    const void* x;      // (N, C) forward input
    const void* w;      // (C) forward scale, or null
    const float* mean;  // (N) saved by the forward, or null for RMSNorm
    const float* rstd;  // (N) saved by the forward
    void* dx;           // (N, C) input gradient (written, not accumulated)
    int rows;           // N
    int cols;           // C
};
static_assert(sizeof(LayerNormBwdParams) == 56, "LayerNormBwdParams layout is mirrored in C#");

// Arguments of layernorm_bwd_wb_* (per-chunk column sums) and layernorm_bwd_wb_reduce_* (sum over chunks).
struct LayerNormWbParams {
    const void* dy;     // (N, C) upstream gradient
    const void* x;      // (N, C) forward input
    const float* mean;  // (N), or null for mean 0 (RMSNorm reuses these kernels: x̂ = x·rstd)
    const float* rstd;  // (N)
    float* partial;     // (2, chunks, C) f32 scratch: [0] Σ dy·x̂, [1] Σ dy
    void* dw;           // (C) weight gradient, dtype of x, or null (reduce kernel only)
    void* db;           // (C) bias gradient, dtype of x, or null (reduce kernel only)
    int rows;           // N
    int cols;           // C
    int chunks;         // gridDim.y of the partial kernel
    int rows_per_chunk; // ceil_div(N, chunks)
};
static_assert(sizeof(LayerNormWbParams) == 72, "LayerNormWbParams layout is mirrored in C#");

// ---- forward ------------------------------------------------------------------------------------------------------

// Teaching version: the CPU loop, one thread per row. Neighbouring threads read addresses C elements apart, so no
// load is coalesced; it exists to show why the default maps a warp onto a row.
extern "C" __global__ void layernorm_fwd_f32_v1(LayerNormParams p) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= p.rows) return;
    const float* x = (const float*)p.x + (size_t)r * p.cols;
    float* y = (float*)p.y + (size_t)r * p.cols;
    float s = 0.0f;
    for (int c = 0; c < p.cols; ++c) s += x[c];
    const float mean = s / p.cols;
    float v = 0.0f;
    for (int c = 0; c < p.cols; ++c) v += (x[c] - mean) * (x[c] - mean);
    const float rstd = 1.0f / sqrtf(v / p.cols + p.eps);
    const float* w = (const float*)p.w;
    const float* b = (const float*)p.b;
    for (int c = 0; c < p.cols; ++c) y[c] = (x[c] - mean) * rstd * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    p.mean[r] = mean;
    p.rstd[r] = rstd;
}

// One warp per row. Lanes stride the row 4 elements at a time (one 16-byte f32 or 8-byte bf16 load each), so a warp
// reads 128 consecutive elements per step. The row is read three times (sum, centred sum of squares, output); the
// second and third reads hit L1, which holds the 8 rows of a block (≤ 32 KiB for C ≤ 1024 f32).
template <typename T>
__device__ __forceinline__ void layernorm_fwd_warp(const LayerNormParams& p) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const int C = p.cols;
    const T* x = (const T*)p.x + (size_t)r * C;
    T* y = (T*)p.y + (size_t)r * C;
    const T* w = (const T*)p.w;
    const T* b = (const T*)p.b;
    // Vector path only when every row start is 4-element aligned.
    const bool vec = (C & 3) == 0 && vec4_ok((const T*)p.x) && vec4_ok((const T*)p.y) && vec4_ok(w) && vec4_ok(b);
    float s = 0.0f;
    if (vec) {
        for (int c = lane * 4; c < C; c += 128) {
            float v[4];
            ld4_f32(x + c, v);
            s += (v[0] + v[1]) + (v[2] + v[3]);
        }
    } else {
        for (int c = lane; c < C; c += 32) s += ld_f32(x + c);
    }
    const float mean = warp_sum(s) / C;
    float q = 0.0f;
    if (vec) {
        for (int c = lane * 4; c < C; c += 128) {
            float v[4];
            ld4_f32(x + c, v);
#pragma unroll
            for (int i = 0; i < 4; ++i) q += (v[i] - mean) * (v[i] - mean);
        }
    } else {
        for (int c = lane; c < C; c += 32) {
            const float d = ld_f32(x + c) - mean;
            q += d * d;
        }
    }
    const float rstd = 1.0f / sqrtf(warp_sum(q) / C + p.eps);
    if (vec) {
        for (int c = lane * 4; c < C; c += 128) {
            float v[4], wv[4] = {1.0f, 1.0f, 1.0f, 1.0f}, bv[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            ld4_f32(x + c, v);
            if (w) ld4_f32(w + c, wv);
            if (b) ld4_f32(b + c, bv);
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = (v[i] - mean) * rstd * wv[i] + bv[i];
            st4_f32(y + c, v);
        }
    } else {
        for (int c = lane; c < C; c += 32)
            st_f32(y + c, (ld_f32(x + c) - mean) * rstd * (w ? ld_f32(w + c) : 1.0f) + (b ? ld_f32(b + c) : 0.0f));
    }
    if (lane == 0) {
        p.mean[r] = mean;
        p.rstd[r] = rstd;
    }
}

extern "C" __global__ void layernorm_fwd_f32(LayerNormParams p) { layernorm_fwd_warp<float>(p); }
extern "C" __global__ void layernorm_fwd_bf16(LayerNormParams p) { layernorm_fwd_warp<bf16_t>(p); }

// ---- backward -----------------------------------------------------------------------------------------------------

// dx for one row per warp: two reductions over the row (mean of g and of g·x̂), then the elementwise formula.
// Without a mean (RMSNorm) x̂ = x·rstd and the mean(g) term is absent.
template <typename T>
__device__ __forceinline__ void layernorm_bwd_dx_warp(const LayerNormBwdParams& p) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const int C = p.cols;
    const size_t off = (size_t)r * C;
    const T* x = (const T*)p.x + off;
    const T* dy = (const T*)p.dy + off;
    const T* w = (const T*)p.w;
    T* dx = (T*)p.dx + off;
    const bool rms = p.mean == nullptr;  // uniform across the grid: the reductions below stay warp-uniform
    const float mean = rms ? 0.0f : p.mean[r], rstd = p.rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float g = ld_f32(dy + c) * (w ? ld_f32(w + c) : 1.0f);
        sg += g;
        sgx += g * (ld_f32(x + c) - mean) * rstd;
    }
    const float mg = rms ? 0.0f : warp_sum(sg) / C;
    const float mgx = warp_sum(sgx) / C;
    for (int c = lane; c < C; c += 32) {
        const float g = ld_f32(dy + c) * (w ? ld_f32(w + c) : 1.0f);
        const float xh = (ld_f32(x + c) - mean) * rstd;
        st_f32(dx + c, rstd * (g - mg - xh * mgx));
    }
}

extern "C" __global__ void layernorm_bwd_dx_f32(LayerNormBwdParams p) { layernorm_bwd_dx_warp<float>(p); }
extern "C" __global__ void layernorm_bwd_dx_bf16(LayerNormBwdParams p) { layernorm_bwd_dx_warp<bf16_t>(p); }

// Column sums over one chunk of rows. A thread owns a column, so each warp reads 32 consecutive elements of a row
// (coalesced). Splitting the rows into chunks gives enough blocks for small C; a second kernel sums the chunks in a
// fixed order, so the result does not depend on scheduling (no atomics).
template <typename T>
__device__ __forceinline__ void layernorm_bwd_wb_cols(const LayerNormWbParams& p) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= p.cols) return;
    const int r0 = blockIdx.y * p.rows_per_chunk;
    const int r1 = min(p.rows, r0 + p.rows_per_chunk);
    const T* x = (const T*)p.x;
    const T* dy = (const T*)p.dy;
    float sw = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; ++r) {
        const size_t i = (size_t)r * p.cols + c;
        const float g = ld_f32(dy + i);
        sw += g * (ld_f32(x + i) - (p.mean ? p.mean[r] : 0.0f)) * p.rstd[r];
        sb += g;
    }
    p.partial[(size_t)blockIdx.y * p.cols + c] = sw;
    p.partial[((size_t)p.chunks + blockIdx.y) * p.cols + c] = sb;
}

extern "C" __global__ void layernorm_bwd_wb_f32(LayerNormWbParams p) { layernorm_bwd_wb_cols<float>(p); }
extern "C" __global__ void layernorm_bwd_wb_bf16(LayerNormWbParams p) { layernorm_bwd_wb_cols<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void layernorm_bwd_wb_sum(const LayerNormWbParams& p) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= p.cols) return;
    float sw = 0.0f, sb = 0.0f;
    for (int k = 0; k < p.chunks; ++k) {
        sw += p.partial[(size_t)k * p.cols + c];
        sb += p.partial[((size_t)p.chunks + k) * p.cols + c];
    }
    if (p.dw) st_f32((T*)p.dw + c, sw);
    if (p.db) st_f32((T*)p.db + c, sb);
}

extern "C" __global__ void layernorm_bwd_wb_reduce_f32(LayerNormWbParams p) { layernorm_bwd_wb_sum<float>(p); }
extern "C" __global__ void layernorm_bwd_wb_reduce_bf16(LayerNormWbParams p) { layernorm_bwd_wb_sum<bf16_t>(p); }
