// rmsnorm.cu — RMSNorm over the last dimension (Phi-3), forward (its backward reuses layernorm.cu).
//
// defines:  rmsnorm_fwd_f32, rmsnorm_fwd_bf16
// math:     rstd[r] = 1 / sqrt(Σc x[r,c]² / C + eps)
//           h[r,c]  = round_T(x[r,c] · rstd[r])             (f32 math; rounded to the tensor dtype first, as
//                                                              transformers' Phi3RMSNorm does in bf16)
//           y[r,c]  = round_T(h[r,c] · w[c])                 (w null: y = h)
//           backward (f32 math; the intermediate rounding is not differentiated), with ĥ = x·rstd, g = dy·w:
//           dx[r,c] = rstd[r] · (g[r,c] − ĥ[r,c] · mean_c(g[r,:]·ĥ[r,:]))   — layernorm_bwd_dx_* with mean = null
//           dw[c]   = Σr dy[r,c]·ĥ[r,c]  — layernorm_bwd_wb_* / layernorm_bwd_wb_reduce_* with mean = null, db = null
// shapes:   x, y, dy, dx (N, C) row-major contiguous, f32 or bf16; w (C) same dtype; rstd (N) f32, saved
// launch:   one warp per row, grid ceil_div(N, 8), block 256
// floor:    memory-bound, N·C·(in + out) bytes. Phi-3 decode (N = 1, C = 3072) is latency-bound (one warp);
//           not yet measured on a device.
// variants: default only (one warp per row, 4-wide vector loads when C % 4 == 0 and rows are aligned)
// ref:      src/Med2E3.Native.Ops/Ops/RmsNorm.cs → RmsNorm.Reference / RmsNorm.BackwardReference; the bf16 rounding
//           of h: src/Med2E3.Native.Ops/Cpu/CpuBackend.cs → CpuBackend.RmsNorm
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (NormAndSoftmaxConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of rmsnorm_fwd_*.
struct RmsNormParams {
    const void* x;      // (N, C) input, f32 or bf16
    const void* w;      // (C) scale, same dtype as x, or null
    void* y;            // (N, C) output, same dtype as x
    float* rstd;        // (N) saved reciprocal root-mean-square, f32
    int rows;           // N
    int cols;           // C
    float eps;          // added to the mean square before the square root
    int pad_;           // keeps the size a multiple of 8
};
static_assert(sizeof(RmsNormParams) == 48, "RmsNormParams layout is mirrored in C#");

// Rounds through the storage type: the identity for f32, round-to-nearest-even for bf16.
__device__ __forceinline__ float round_to(const float*, float v) { return v; }
__device__ __forceinline__ float round_to(const bf16_t*, float v) { return bf16_to_f32(f32_to_bf16(v)); }

template <typename T>
__device__ __forceinline__ void rmsnorm_fwd_warp(const RmsNormParams& p) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const int C = p.cols;
    const T* x = (const T*)p.x + (size_t)r * C;
    T* y = (T*)p.y + (size_t)r * C;
    const T* w = (const T*)p.w;
    const bool vec = (C & 3) == 0 && vec4_ok((const T*)p.x) && vec4_ok((const T*)p.y) && vec4_ok(w);
    float q = 0.0f;
    if (vec) {
        for (int c = lane * 4; c < C; c += 128) {
            float v[4];
            ld4_f32(x + c, v);
            q += (v[0] * v[0] + v[1] * v[1]) + (v[2] * v[2] + v[3] * v[3]);
        }
    } else {
        for (int c = lane; c < C; c += 32) {
            const float v = ld_f32(x + c);
            q += v * v;
        }
    }
    const float rstd = 1.0f / sqrtf(warp_sum(q) / C + p.eps);
    // The second read of the row comes from L1. In bf16 h is rounded before the weight multiply, as the reference.
    if (vec) {
        for (int c = lane * 4; c < C; c += 128) {
            float v[4], wv[4] = {1.0f, 1.0f, 1.0f, 1.0f};
            ld4_f32(x + c, v);
            if (w) ld4_f32(w + c, wv);
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = round_to(y, v[i] * rstd) * wv[i];
            st4_f32(y + c, v);
        }
    } else {
        for (int c = lane; c < C; c += 32) st_f32(y + c, round_to(y, ld_f32(x + c) * rstd) * (w ? ld_f32(w + c) : 1.0f));
    }
    if (lane == 0) p.rstd[r] = rstd;
}

extern "C" __global__ void rmsnorm_fwd_f32(RmsNormParams p) { rmsnorm_fwd_warp<float>(p); }
extern "C" __global__ void rmsnorm_fwd_bf16(RmsNormParams p) { rmsnorm_fwd_warp<bf16_t>(p); }
