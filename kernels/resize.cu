// resize.cu — crop + trilinear resize of volumes (align_corners = False), the costly step of preprocessing.
//
// defines:  resize_trilinear3d_fwd_f32, resize_trilinear3d_fwd_bf16
// math:     per axis, source length n = crop extent, output length m: scale = n / m,
//           src = scale·(dst + 0.5) − 0.5 clamped below at 0, i0 = min(⌊src⌋, n − 1), i1 = min(i0 + 1, n − 1),
//           λ = src − i0 (in float32, every product and sum rounded separately: no FMA contraction, so f32 results
//           are bit-identical to the CPU loops). y = (1−λd)·[(1−λh)·((1−λw)·v000 + λw·v001) + λh·(…)] + λd·[…],
//           v read at (z0 + i, y0 + j, x0 + k) of the uncropped input. Crop extent = output size on all three
//           axes: an exact copy of the crop. Window, min–max and the foreground box stay on the host (O(N) passes
//           over the volume as read, cheaper than a second upload); only this step runs on the device.
// shapes:   x (N = B·C, D, Hi, W) contiguous, crop (z0, z1, y0, y1, x0, x1) inside it; y (N, Do, Ho, Wo) contiguous;
//           f32 or bf16 (bf16 loads widened to f32, the result rounded to nearest even once). Med-2E3:
//           (1, 1, ≈40, 512, 512) → (1, 1, 32, 256, 256).
// launch:   one thread per output element, W fastest (coalesced stores, neighbouring threads read neighbouring
//           source columns), grid ceil_div(N·Do·Ho·Wo, 256), block 256.
// floor:    memory-bound: writes N·Do·Ho·Wo·sizeof(T) (32·256·256·4 B = 8.4 MB for Med-2E3), reads at most the crop
//           (≤ the input, 42 MB for 40×512×512 f32; a 2× downsample touches half the source rows); not yet measured
//           on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Resize.cs → Resize.Reference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -class Med2E3.Native.Tests.Cuda.Ops.ResizeConformanceTests
//           bench: med2e3-bench resize (1×1×40×512×512 crop → 32×256×256 f32)

#include "common.cuh"

// Arguments of resize_trilinear3d_fwd_*.
struct ResizeParams {
    const void* x;            // input (N, D, Hi, W)
    void* y;                  // output (N, Do, Ho, Wo)
    int n, d, h, w;           // N = B·C, input extent
    int z0, y0, x0;           // crop origin
    int cd, ch, cw;           // crop extent: the source lengths of the three axes
    int od, oh, ow;           // output extent
    int pad_;                 // keeps the size a multiple of 8
};
static_assert(sizeof(ResizeParams) == 72, "ResizeParams layout is mirrored in C#");

// Taps of output index o on an axis of source length n and output length m; explicit _rn intrinsics keep the
// compiler from fusing the products into FMAs, which would move src by an ulp away from the CPU's value.
__device__ __forceinline__ void resize_taps(int o, int n, int m, int& i0, int& i1, float& lambda) {
    float scale = __fdiv_rn((float)n, (float)m);
    float src = __fsub_rn(__fmul_rn(scale, __fadd_rn((float)o, 0.5f)), 0.5f);
    src = src < 0.0f ? 0.0f : src;
    int i = min((int)floorf(src), n - 1);
    i0 = i;
    i1 = min(i + 1, n - 1);
    float l = __fsub_rn(src, (float)i);
    lambda = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
}

// (1 − λ)·a + λ·b with each operation rounded, as the CPU evaluates wx0·a + wx1·b.
__device__ __forceinline__ float resize_lerp(float w0, float w1, float a, float b) {
    return __fadd_rn(__fmul_rn(w0, a), __fmul_rn(w1, b));
}

template <typename T>
__device__ __forceinline__ void resize_trilinear3d_fwd_impl(const ResizeParams& p) {
    const size_t total = (size_t)p.n * p.od * p.oh * p.ow;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    const int ox = (int)(i % p.ow);
    const int oy = (int)(i / p.ow % p.oh);
    const int oz = (int)(i / ((size_t)p.ow * p.oh) % p.od);
    const size_t c = i / ((size_t)p.ow * p.oh * p.od);
    const T* x = (const T*)p.x + c * p.d * p.h * p.w;
    T* y = (T*)p.y;
    if (p.cd == p.od && p.ch == p.oh && p.cw == p.ow) {
        // Matching sizes: an exact copy of the crop (MONAI skips the resize).
        y[i] = x[((size_t)(p.z0 + oz) * p.h + p.y0 + oy) * p.w + p.x0 + ox];
        return;
    }
    int za, zb, ya, yb, xa, xb;
    float lz, ly, lx;
    resize_taps(oz, p.cd, p.od, za, zb, lz);
    resize_taps(oy, p.ch, p.oh, ya, yb, ly);
    resize_taps(ox, p.cw, p.ow, xa, xb, lx);
    const float wz0 = __fsub_rn(1.0f, lz), wy0 = __fsub_rn(1.0f, ly), wx0 = __fsub_rn(1.0f, lx);
    const size_t pa = (size_t)(p.z0 + za) * p.h, pb = (size_t)(p.z0 + zb) * p.h;
    const size_t raa = (pa + p.y0 + ya) * p.w + p.x0, rab = (pa + p.y0 + yb) * p.w + p.x0;
    const size_t rba = (pb + p.y0 + ya) * p.w + p.x0, rbb = (pb + p.y0 + yb) * p.w + p.x0;
    const float near = resize_lerp(wy0, ly, resize_lerp(wx0, lx, ld_f32(x + raa + xa), ld_f32(x + raa + xb)),
                                   resize_lerp(wx0, lx, ld_f32(x + rab + xa), ld_f32(x + rab + xb)));
    const float far = resize_lerp(wy0, ly, resize_lerp(wx0, lx, ld_f32(x + rba + xa), ld_f32(x + rba + xb)),
                                  resize_lerp(wx0, lx, ld_f32(x + rbb + xa), ld_f32(x + rbb + xb)));
    st_f32(y + i, resize_lerp(wz0, lz, near, far));
}

extern "C" __global__ void resize_trilinear3d_fwd_f32(ResizeParams p) { resize_trilinear3d_fwd_impl<float>(p); }
extern "C" __global__ void resize_trilinear3d_fwd_bf16(ResizeParams p) { resize_trilinear3d_fwd_impl<bf16_t>(p); }
