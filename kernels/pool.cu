// pool.cu — 3D average pooling without padding, forward and backward.
//
// defines:  avgpool3d_fwd_f32, avgpool3d_fwd_bf16, avgpool3d_bwd_f32, avgpool3d_bwd_bf16
// math:     y[b,c,z,y,x] = (1 / (kd·kh·kw)) · Σ_{i<kd, j<kh, k<kw} x[b, c, z·sd + i, y·sh + j, x·sw + k]
//           Do = (D − kd)/sd + 1 (floor), likewise Ho, Wo: trailing elements that fit no window are ignored.
//           backward: dx[b,c,z,y,x] = (1 / (kd·kh·kw)) · Σ over every window that contains the element of dy
//           (each input element gathers from its windows, so overlapping windows need no atomics; elements in no
//           window get 0 — dx is fully written).
// shapes:   x, dx (B, C, D, Hi, W) and y, dy (B, C, Do, Ho, Wo), f32 or bf16, each with five element strides, so a
//           channel-last token tensor (B, D·Hi·W, C) is pooled in place of a transposed copy (Med-2E3's 3D
//           connector: 2×2×2 over (8, 16, 16) tokens of width 768).
// launch:   fwd: one thread per output element, grid ceil_div(B·C·Do·Ho·Wo, 256), block 256
//           bwd: one thread per input element,  grid ceil_div(B·C·D·Hi·W, 256),    block 256
//           Threads walk the logical index with W fastest, so contiguous NCDHW tensors are read coalesced; for the
//           channel-last view the launcher may instead order by C (see order_c_fastest).
// floor:    memory-bound, (in + out) bytes; not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Pool.cs → Pool.Reference / Pool.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (ConvPoolOptimConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of avgpool3d_fwd_* and avgpool3d_bwd_*.
struct AvgPool3dParams {
    const void* src;          // fwd: x, bwd: dy
    void* dst;                // fwd: y, bwd: dx
    int batch, channels;      // B, C
    int d, h, w;              // input extent D, Hi, W
    int od, oh, ow;           // output extent Do, Ho, Wo
    int kd, kh, kw;           // window
    int sd, sh, sw;           // stride
    int order_c_fastest;      // 1: thread index runs over C fastest (coalesced for channel-last tensors)
    int pad_;                 // keeps the strides 8-byte aligned on both sides
    long long xs[5];          // element strides of x / dx: b, c, d, h, w
    long long ys[5];          // element strides of y / dy: b, c, d, h, w
};
static_assert(sizeof(AvgPool3dParams) == 160, "AvgPool3dParams layout is mirrored in C#");

// Splits a flat thread index into (b, c, z, y, x) for extents (B, C, Z, Y, X), W or C fastest.
__device__ __forceinline__ void pool_unflatten(size_t i, int C, int Z, int Y, int X, bool c_fastest, int& b, int& c,
                                               int& z, int& y, int& x) {
    if (c_fastest) {
        c = (int)(i % C);
        i /= C;
        x = (int)(i % X);
        i /= X;
        y = (int)(i % Y);
        i /= Y;
        z = (int)(i % Z);
        b = (int)(i / Z);
    } else {
        x = (int)(i % X);
        i /= X;
        y = (int)(i % Y);
        i /= Y;
        z = (int)(i % Z);
        i /= Z;
        c = (int)(i % C);
        b = (int)(i / C);
    }
}

__device__ __forceinline__ size_t pool_off(const long long* s, int b, int c, int z, int y, int x) {
    return (size_t)(b * s[0] + c * s[1] + z * s[2] + y * s[3] + x * s[4]);
}

template <typename T>
__device__ __forceinline__ void avgpool3d_fwd_impl(const AvgPool3dParams& p) {
    const size_t n = (size_t)p.batch * p.channels * p.od * p.oh * p.ow;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int b, c, z, y, x;
    pool_unflatten(i, p.channels, p.od, p.oh, p.ow, p.order_c_fastest, b, c, z, y, x);
    const T* src = (const T*)p.src;
    float s = 0.0f;
    for (int a = 0; a < p.kd; ++a)
        for (int bb = 0; bb < p.kh; ++bb)
            for (int cc = 0; cc < p.kw; ++cc)
                s += ld_f32(src + pool_off(p.xs, b, c, z * p.sd + a, y * p.sh + bb, x * p.sw + cc));
    st_f32((T*)p.dst + pool_off(p.ys, b, c, z, y, x), s / (float)(p.kd * p.kh * p.kw));
}

extern "C" __global__ void avgpool3d_fwd_f32(AvgPool3dParams p) { avgpool3d_fwd_impl<float>(p); }
extern "C" __global__ void avgpool3d_fwd_bf16(AvgPool3dParams p) { avgpool3d_fwd_impl<bf16_t>(p); }

// First and last+1 output index whose window [o·s, o·s + k) covers input index i, clipped to [0, n).
__device__ __forceinline__ void pool_windows(int i, int k, int s, int n, int& lo, int& hi) {
    lo = i - k + 1 <= 0 ? 0 : (i - k + 1 + s - 1) / s;
    hi = min(n, i / s + 1);
}

template <typename T>
__device__ __forceinline__ void avgpool3d_bwd_impl(const AvgPool3dParams& p) {
    const size_t n = (size_t)p.batch * p.channels * p.d * p.h * p.w;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int b, c, z, y, x;
    pool_unflatten(i, p.channels, p.d, p.h, p.w, p.order_c_fastest, b, c, z, y, x);
    int z0, z1, y0, y1, x0, x1;
    pool_windows(z, p.kd, p.sd, p.od, z0, z1);
    pool_windows(y, p.kh, p.sh, p.oh, y0, y1);
    pool_windows(x, p.kw, p.sw, p.ow, x0, x1);
    const T* dy = (const T*)p.src;
    float s = 0.0f;
    for (int a = z0; a < z1; ++a)
        for (int bb = y0; bb < y1; ++bb)
            for (int cc = x0; cc < x1; ++cc) s += ld_f32(dy + pool_off(p.ys, b, c, a, bb, cc));
    st_f32((T*)p.dst + pool_off(p.xs, b, c, z, y, x), s / (float)(p.kd * p.kh * p.kw));
}

extern "C" __global__ void avgpool3d_bwd_f32(AvgPool3dParams p) { avgpool3d_bwd_impl<float>(p); }
extern "C" __global__ void avgpool3d_bwd_bf16(AvgPool3dParams p) { avgpool3d_bwd_impl<bf16_t>(p); }
