// conv3d.cu — general direct 3D convolution (zero padding, stride, dilation 1), forward and backward.
//
// defines:  conv3d_fwd_f32, conv3d_fwd_bf16, conv3d_bwd_data_f32, conv3d_bwd_data_bf16,
//           conv3d_bwd_weight_f32, conv3d_bwd_weight_bf16, conv3d_bwd_bias_f32, conv3d_bwd_bias_bf16
// math:     y[n,o,z,y,x] = bias[o] + Σ_{c, i<kd, j<kh, k<kw} w[o,c,i,j,k] · x[n, c, z·sd − pd + i, y·sh − ph + j,
//                                                                       x·sw − pw + k]
//           (x outside the volume is 0; Do = (D + 2pd − kd)/sd + 1, likewise Ho, Wo)
//           dx[n,c,Z,Y,X] = Σ_{o,i,j,k} w[o,c,i,j,k] · dy[n, o, (Z + pd − i)/sd, …]   over exact, in-range divisions
//           dw[o,c,i,j,k] = Σ_{n,z,y,x} dy[n,o,z,y,x] · x[n, c, z·sd − pd + i, …]
//           db[o]         = Σ_{n,z,y,x} dy[n,o,z,y,x]
//           all gradients are written, not accumulated; every sum is in f32.
// shapes:   x, dx (N, Ci, D, Hi, W); w, dw (Co, Ci, kd, kh, kw); bias, db (Co) (bias may be null);
//           y, dy (N, Co, Do, Ho, Wo); all contiguous, one dtype (f32 or bf16). kd·kh·kw ≤ 512.
// launch:   fwd         grid (ceil_div(Do·Ho·Wo, 128), ceil_div(Co, 16), N)  block 128
//                       (a thread computes 16 output channels at one position; the block's weights for a group of
//                       input channels are staged in 32 KiB of shared memory)
//           bwd_data    grid ceil_div(N·Ci·D·Hi·W, 256)                       block 256 (thread per input element)
//           bwd_weight  grid Co·Ci·kd·kh·kw                                   block 256 (block per weight)
//           bwd_bias    grid Co                                               block 256 (block per channel)
// floor:    forward is compute-bound: 2·N·Co·Do·Ho·Wo·Ci·kd·kh·kw FLOPs (3→64 ch, 3³, 64³: 2.7 GFLOP); the target in
//           PERFORMANCE.md is within 1.5× of cuDNN (0.301 ms bf16 on H100). Each input load feeds 16 FMAs and
//           weights come from shared memory as broadcasts. Not yet measured on a device.
//           The backward kernels are the plain definitions (no tiling); the model never trains a general conv.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Conv.cs → Conv.Reference / Conv.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (ConvPoolOptimConformanceTests, SharedOpCaseTests)    bench: med2e3-bench kernels --op conv3d

#include "common.cuh"

// Arguments of every conv3d kernel.
struct Conv3dParams {
    const void* x;        // (N, Ci, D, Hi, W) input (fwd, bwd_weight)
    const void* w;        // (Co, Ci, kd, kh, kw) weights (fwd, bwd_data)
    const void* bias;     // (Co) or null (fwd)
    void* y;              // (N, Co, Do, Ho, Wo) output (fwd)
    const void* dy;       // (N, Co, Do, Ho, Wo) upstream gradient (bwd_*)
    void* dx;             // (N, Ci, D, Hi, W) input gradient (bwd_data)
    void* dw;             // (Co, Ci, kd, kh, kw) weight gradient (bwd_weight)
    void* db;             // (Co) bias gradient (bwd_bias)
    int n, ci, d, h, w_;  // N, Ci, D, Hi, W
    int co, kd, kh, kw;   // Co and the kernel extent
    int od, oh, ow;       // output extent
    int sd, sh, sw;       // stride
    int pd, ph, pw;       // zero padding
};
static_assert(sizeof(Conv3dParams) == 136, "Conv3dParams layout is mirrored in C#");

#define CONV_THREADS 128
#define CONV_COB 16          // output channels per thread
#define CONV_WS_FLOATS 8192  // 32 KiB of staged weights per block

template <typename T>
__device__ __forceinline__ void conv3d_fwd_impl(const Conv3dParams& p) {
    __shared__ float ws[CONV_WS_FLOATS];
    const int kvol = p.kd * p.kh * p.kw;
    const int S = p.od * p.oh * p.ow;
    const int pos = blockIdx.x * CONV_THREADS + threadIdx.x;
    const int co0 = blockIdx.y * CONV_COB;
    const int n = blockIdx.z;
    const int ox = pos % p.ow, oy = (pos / p.ow) % p.oh, oz = pos / (p.ow * p.oh);
    const int iz0 = oz * p.sd - p.pd, iy0 = oy * p.sh - p.ph, ix0 = ox * p.sw - p.pw;
    const T* x = (const T*)p.x + (size_t)n * p.ci * p.d * p.h * p.w_;
    const T* w = (const T*)p.w;
    // As many input channels per stage as fit: all of them for the 3-channel case, so one barrier pair in total.
    const int cic = max(1, CONV_WS_FLOATS / (CONV_COB * kvol));
    float acc[CONV_COB];
#pragma unroll
    for (int o = 0; o < CONV_COB; ++o) acc[o] = 0.0f;
    for (int c0 = 0; c0 < p.ci; c0 += cic) {
        const int nc = min(cic, p.ci - c0);
        __syncthreads();
        // ws[o][c][k] for the 16 channels of this block; channels past Co are zero.
        for (int e = threadIdx.x; e < CONV_COB * nc * kvol; e += CONV_THREADS) {
            const int o = e / (nc * kvol), r = e - o * nc * kvol;
            const int c = r / kvol, k = r - c * kvol;
            ws[e] = co0 + o < p.co ? ld_f32(w + ((size_t)(co0 + o) * p.ci + c0 + c) * kvol + k) : 0.0f;
        }
        __syncthreads();
        if (pos >= S) continue;  // no early return: the thread still takes part in the barriers
        for (int c = 0; c < nc; ++c) {
            const T* xc = x + (size_t)(c0 + c) * p.d * p.h * p.w_;
            for (int i = 0; i < p.kd; ++i) {
                const int iz = iz0 + i;
                if (iz < 0 || iz >= p.d) continue;
                for (int j = 0; j < p.kh; ++j) {
                    const int iy = iy0 + j;
                    if (iy < 0 || iy >= p.h) continue;
                    for (int k = 0; k < p.kw; ++k) {
                        const int ix = ix0 + k;
                        if (ix < 0 || ix >= p.w_) continue;
                        const float v = ld_f32(xc + ((size_t)iz * p.h + iy) * p.w_ + ix);
                        const float* wk = ws + c * kvol + (i * p.kh + j) * p.kw + k;
#pragma unroll
                        for (int o = 0; o < CONV_COB; ++o) acc[o] += v * wk[o * nc * kvol];
                    }
                }
            }
        }
    }
    if (pos >= S) return;
    T* y = (T*)p.y + (size_t)n * p.co * S + pos;
    const T* bias = (const T*)p.bias;
#pragma unroll
    for (int o = 0; o < CONV_COB; ++o)
        if (co0 + o < p.co) st_f32(y + (size_t)(co0 + o) * S, acc[o] + (bias ? ld_f32(bias + co0 + o) : 0.0f));
}

extern "C" __global__ void __launch_bounds__(CONV_THREADS) conv3d_fwd_f32(Conv3dParams p) {
    conv3d_fwd_impl<float>(p);
}
extern "C" __global__ void __launch_bounds__(CONV_THREADS) conv3d_fwd_bf16(Conv3dParams p) {
    conv3d_fwd_impl<bf16_t>(p);
}

// Input gradient by gathering: output z contributes to input Z through tap i exactly when Z + pd − i = z·sd.
template <typename T>
__device__ __forceinline__ void conv3d_bwd_data_impl(const Conv3dParams& p) {
    const size_t total = (size_t)p.n * p.ci * p.d * p.h * p.w_;
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    const int X = (int)(e % p.w_), Y = (int)(e / p.w_ % p.h), Z = (int)(e / ((size_t)p.w_ * p.h) % p.d);
    const int c = (int)(e / ((size_t)p.w_ * p.h * p.d) % p.ci);
    const int n = (int)(e / ((size_t)p.w_ * p.h * p.d * p.ci));
    const int kvol = p.kd * p.kh * p.kw, S = p.od * p.oh * p.ow;
    const T* w = (const T*)p.w;
    const T* dy = (const T*)p.dy + (size_t)n * p.co * S;
    float s = 0.0f;
    for (int i = 0; i < p.kd; ++i) {
        const int tz = Z + p.pd - i;
        if (tz < 0 || tz % p.sd) continue;
        const int oz = tz / p.sd;
        if (oz >= p.od) continue;
        for (int j = 0; j < p.kh; ++j) {
            const int ty = Y + p.ph - j;
            if (ty < 0 || ty % p.sh) continue;
            const int oy = ty / p.sh;
            if (oy >= p.oh) continue;
            for (int k = 0; k < p.kw; ++k) {
                const int tx = X + p.pw - k;
                if (tx < 0 || tx % p.sw) continue;
                const int ox = tx / p.sw;
                if (ox >= p.ow) continue;
                const int tap = (i * p.kh + j) * p.kw + k;
                const int o_pos = (oz * p.oh + oy) * p.ow + ox;
                for (int o = 0; o < p.co; ++o)
                    s += ld_f32(w + ((size_t)o * p.ci + c) * kvol + tap) * ld_f32(dy + (size_t)o * S + o_pos);
            }
        }
    }
    st_f32((T*)p.dx + e, s);
}

extern "C" __global__ void conv3d_bwd_data_f32(Conv3dParams p) { conv3d_bwd_data_impl<float>(p); }
extern "C" __global__ void conv3d_bwd_data_bf16(Conv3dParams p) { conv3d_bwd_data_impl<bf16_t>(p); }

// One block per weight element: a block-wide dot product of dy[:, o] with the shifted x[:, c] over every output
// position of every sample.
template <typename T>
__device__ __forceinline__ void conv3d_bwd_weight_impl(const Conv3dParams& p) {
    __shared__ float scratch[32];
    const int kvol = p.kd * p.kh * p.kw;
    const int tap = blockIdx.x % kvol;
    const int c = blockIdx.x / kvol % p.ci;
    const int o = blockIdx.x / (kvol * p.ci);
    const int k = tap % p.kw, j = tap / p.kw % p.kh, i = tap / (p.kw * p.kh);
    const int S = p.od * p.oh * p.ow;
    const size_t in_vol = (size_t)p.d * p.h * p.w_;
    float s = 0.0f;
    for (size_t e = threadIdx.x; e < (size_t)p.n * S; e += blockDim.x) {
        const int n = (int)(e / S), pos = (int)(e % S);
        const int ox = pos % p.ow, oy = pos / p.ow % p.oh, oz = pos / (p.ow * p.oh);
        const int iz = oz * p.sd - p.pd + i, iy = oy * p.sh - p.ph + j, ix = ox * p.sw - p.pw + k;
        if (iz < 0 || iz >= p.d || iy < 0 || iy >= p.h || ix < 0 || ix >= p.w_) continue;
        const float g = ld_f32((const T*)p.dy + ((size_t)n * p.co + o) * S + pos);
        s += g * ld_f32((const T*)p.x + ((size_t)n * p.ci + c) * in_vol + ((size_t)iz * p.h + iy) * p.w_ + ix);
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) st_f32((T*)p.dw + blockIdx.x, s);
}

extern "C" __global__ void conv3d_bwd_weight_f32(Conv3dParams p) { conv3d_bwd_weight_impl<float>(p); }
extern "C" __global__ void conv3d_bwd_weight_bf16(Conv3dParams p) { conv3d_bwd_weight_impl<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void conv3d_bwd_bias_impl(const Conv3dParams& p) {
    __shared__ float scratch[32];
    const int o = blockIdx.x;
    const int S = p.od * p.oh * p.ow;
    float s = 0.0f;
    for (size_t e = threadIdx.x; e < (size_t)p.n * S; e += blockDim.x) {
        const size_t n = e / S, pos = e % S;
        s += ld_f32((const T*)p.dy + (n * p.co + o) * S + pos);
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) st_f32((T*)p.db + o, s);
}

extern "C" __global__ void conv3d_bwd_bias_f32(Conv3dParams p) { conv3d_bwd_bias_impl<float>(p); }
extern "C" __global__ void conv3d_bwd_bias_bf16(Conv3dParams p) { conv3d_bwd_bias_impl<bf16_t>(p); }
