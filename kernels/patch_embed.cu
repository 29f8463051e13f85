// patch_embed.cu — patch gathers that turn a patch embedding (kernel = stride) into one GEMM.
//
// defines:  patch_embed_fwd_f32, patch_embed_fwd_bf16, patch_embed_bwd_f32, patch_embed_bwd_bf16
// math:     input x (B, C, D, Hi, W), patch (pz, py, px), grid gz = D/pz, gy = Hi/py, gx = W/px (floor).
//           token  t = (iz·gy + iy)·gx + ix  (depth slowest, then row, then column)
//           vector index, by layout:
//             3D "perceptron" (M3D ViT, c_fastest = 1):  k = ((a·py + b)·px + c)·C + ch
//             2D/3D conv weight order (SigLIP, c_fastest = 0): k = ((ch·pz + a)·py + b)·px + c
//           P[bb, t, k] = x[bb, ch, iz·pz + a, iy·py + b, ix·px + c]
//           Then y = P·Wᵀ + bias is a GEMM with W (hidden, C·pz·py·px) — the conv weight flattened as stored
//           (c_fastest = 0) or the Linear weight of the perceptron embedding (c_fastest = 1).
//           For a 2D image use D = pz = 1.
//           backward: the gather is a permutation of the covered voxels, so dx is the inverse gather of dP;
//           voxels outside the patch grid (D, Hi, W not multiples of the patch) get 0.
// shapes:   x, dx (B, C, D, Hi, W) contiguous; P, dP (B, gz·gy·gx, C·pz·py·px) contiguous; f32 or bf16.
// launch:   fwd: one thread per element of P (coalesced writes; reads run px·C contiguous voxels when C = 1):
//                grid ceil_div(B·T·K, 256), block 256
//           bwd: one thread per voxel of dx (coalesced writes): grid ceil_div(B·C·D·Hi·W, 256), block 256
// floor:    memory-bound, 2·B·C·D·Hi·W·sizeof(T) bytes (32×256×256 bf16: 4 MiB each way, ≈3 µs at 3 TB/s);
//           the GEMM after it is the 3.2 GFLOP part. Not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Conv.cs → Conv.Patchify3d, Conv.Conv2dPatch (their gather steps)
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (KernelVariantTests, SharedOpCaseTests)    bench: med2e3-bench kernels --op patch_embed

#include "common.cuh"

// Arguments of patch_embed_fwd_* and patch_embed_bwd_*.
struct PatchParams {
    const void* src;   // fwd: x (B, C, D, Hi, W); bwd: dP (B, T, K)
    void* dst;         // fwd: P (B, T, K);        bwd: dx (B, C, D, Hi, W)
    int batch;         // B
    int channels;      // C
    int d, h, w;       // D, Hi, W
    int pz, py, px;    // patch extent (kernel = stride)
    int c_fastest;     // 1: channel is the fastest index of a patch vector (perceptron), 0: slowest (conv weight)
    int pad_;          // keeps the size a multiple of 8
};
static_assert(sizeof(PatchParams) == 56, "PatchParams layout is mirrored in C#");

// Splits a patch-vector index k into (channel, a, b, c) for the layout in use.
__device__ __forceinline__ void patch_split_k(const PatchParams& p, int k, int& ch, int& a, int& b, int& c) {
    if (p.c_fastest) {
        ch = k % p.channels;
        k /= p.channels;
        c = k % p.px;
        k /= p.px;
        b = k % p.py;
        a = k / p.py;
    } else {
        c = k % p.px;
        k /= p.px;
        b = k % p.py;
        k /= p.py;
        a = k % p.pz;
        ch = k / p.pz;
    }
}

template <typename T>
__device__ __forceinline__ void patch_fwd_impl(const PatchParams& p) {
    const int gz = p.d / p.pz, gy = p.h / p.py, gx = p.w / p.px;
    const int K = p.channels * p.pz * p.py * p.px, T_ = gz * gy * gx;
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)p.batch * T_ * K) return;
    const int k = (int)(e % K);
    const size_t bt = e / K;
    const int t = (int)(bt % T_), bb = (int)(bt / T_);
    const int ix = t % gx, iy = t / gx % gy, iz = t / (gx * gy);
    int ch, a, b, c;
    patch_split_k(p, k, ch, a, b, c);
    const size_t src = ((((size_t)bb * p.channels + ch) * p.d + iz * p.pz + a) * p.h + iy * p.py + b) * p.w +
                       ix * p.px + c;
    st_f32((T*)p.dst + e, ld_f32((const T*)p.src + src));
}

template <typename T>
__device__ __forceinline__ void patch_bwd_impl(const PatchParams& p) {
    const int gz = p.d / p.pz, gy = p.h / p.py, gx = p.w / p.px;
    const int K = p.channels * p.pz * p.py * p.px, T_ = gz * gy * gx;
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)p.batch * p.channels * p.d * p.h * p.w) return;
    const int x = (int)(e % p.w), y = (int)(e / p.w % p.h), z = (int)(e / ((size_t)p.w * p.h) % p.d);
    const int ch = (int)(e / ((size_t)p.w * p.h * p.d) % p.channels);
    const int bb = (int)(e / ((size_t)p.w * p.h * p.d * p.channels));
    const int iz = z / p.pz, iy = y / p.py, ix = x / p.px;
    float v = 0.0f;
    if (iz < gz && iy < gy && ix < gx) {
        const int a = z - iz * p.pz, b = y - iy * p.py, c = x - ix * p.px;
        const int k = p.c_fastest ? ((a * p.py + b) * p.px + c) * p.channels + ch
                                  : ((ch * p.pz + a) * p.py + b) * p.px + c;
        const int t = (iz * gy + iy) * gx + ix;
        v = ld_f32((const T*)p.src + ((size_t)bb * T_ + t) * K + k);
    }
    st_f32((T*)p.dst + e, v);
}

extern "C" __global__ void patch_embed_fwd_f32(PatchParams p) { patch_fwd_impl<float>(p); }
extern "C" __global__ void patch_embed_fwd_bf16(PatchParams p) { patch_fwd_impl<bf16_t>(p); }
extern "C" __global__ void patch_embed_bwd_f32(PatchParams p) { patch_bwd_impl<float>(p); }
extern "C" __global__ void patch_embed_bwd_bf16(PatchParams p) { patch_bwd_impl<bf16_t>(p); }
