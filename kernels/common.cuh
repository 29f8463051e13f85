// common.cuh — the only shared device code: fixed-width types, ceil_div, bf16/f16 ⇄ f32 conversion, warp and
// block reductions, vectorised loads.
//
// NVRTC receives this file as an in-memory header ("common.cuh"); nvcc finds it with -I kernels. It includes no
// CUDA toolkit header, so every kernel file compiles as it is under NVRTC 11.8 and newer.
#pragma once

typedef unsigned int u32;
typedef unsigned short u16;
typedef long long i64;
typedef unsigned long long u64;

// bfloat16 and IEEE half are carried as their 16 raw bits. Arithmetic always happens in f32: load, convert, compute,
// round once on store. This is also what the CPU references do, so the two agree bit for bit on the rounding step.
typedef u16 bf16_t;
typedef u16 f16_t;

__device__ __forceinline__ i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// bf16 is the top half of an f32, so widening is a shift.
__device__ __forceinline__ float bf16_to_f32(bf16_t h) { return __uint_as_float(((u32)h) << 16); }

// Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit, then truncate. NaN is kept quiet (a NaN
// whose payload sits only in the low half would otherwise round to infinity).
__device__ __forceinline__ bf16_t f32_to_bf16(float f)
{
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (bf16_t)((u >> 16) | 0x0040u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

// Half conversions use the hardware instructions directly (cvt is exact for widening, round-to-nearest-even for
// narrowing), which avoids needing cuda_fp16.h.
#ifdef __MED2E3_EMU__
// The emulated device (native/emulator) has no PTX: the same two conversions, written out in its device header.
__device__ __forceinline__ float f16_to_f32(f16_t h) { return ::emu::f16_to_f32(h); }
__device__ __forceinline__ f16_t f32_to_f16(float f) { return ::emu::f32_to_f16(f); }
#else
__device__ __forceinline__ float f16_to_f32(f16_t h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ f16_t f32_to_f16(float f)
{
    f16_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#endif

// Butterfly reductions: after the loop every lane holds the result. The full mask requires all 32 lanes to be
// present, which is why block sizes are multiples of 32.
__device__ __forceinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    }
    return v;
}

// Block-wide sum; every thread receives the result. `scratch` is __shared__ float[32]. blockDim.x must be a
// multiple of 32. The first barrier lets a caller reuse the same scratch for consecutive reductions.
__device__ __forceinline__ float block_sum(float v, float* scratch)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = warp_sum(lane < warps ? scratch[lane] : 0.0f);
        if (lane == 0) {
            scratch[0] = v;
        }
    }
    __syncthreads();
    return scratch[0];
}

__device__ __forceinline__ float block_max(float v, float* scratch)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = warp_max(lane < warps ? scratch[lane] : -__int_as_float(0x7f800000));
        if (lane == 0) {
            scratch[0] = v;
        }
    }
    __syncthreads();
    return scratch[0];
}

// 16-byte vector access. Callers check alignment with is_aligned16 first; a misaligned vector load faults.
__device__ __forceinline__ bool is_aligned16(const void* p) { return (((u64)p) & 15u) == 0; }

__device__ __forceinline__ float4 load_f32x4(const float* p) { return *reinterpret_cast<const float4*>(p); }

__device__ __forceinline__ void store_f32x4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

// Eight bf16 values travel as one uint4; lane i of the pair (lo, hi) in each 32-bit word is element 2k + i.
__device__ __forceinline__ uint4 load_u16x8(const u16* p) { return *reinterpret_cast<const uint4*>(p); }

__device__ __forceinline__ void store_u16x8(u16* p, uint4 v) { *reinterpret_cast<uint4*>(p) = v; }

__device__ __forceinline__ float bf16_lo(u32 w) { return __uint_as_float(w << 16); }

__device__ __forceinline__ float bf16_hi(u32 w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ u32 pack_bf16(float lo, float hi)
{
    return (u32)f32_to_bf16(lo) | ((u32)f32_to_bf16(hi) << 16);
}

// Grid-stride loop bounds: each thread starts at its global index and strides by the whole grid, so any grid size
// covers any n.
__device__ __forceinline__ i64 global_thread() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }

__device__ __forceinline__ i64 grid_stride() { return (i64)gridDim.x * blockDim.x; }

// ---- op-library helpers ----
// Used by the op-family kernels (layernorm.cu … adamw.cu). Kept below the foundation section so each part has one
// owner; everything here is device code with no state.

__device__ __forceinline__ float neg_inf() { return -__int_as_float(0x7f800000); }

// Load/store one element as f32 whatever its storage type, so one device template serves the f32 and bf16 kernels.
__device__ __forceinline__ float ld_f32(const float* p) { return *p; }
__device__ __forceinline__ float ld_f32(const bf16_t* p) { return bf16_to_f32(*p); }
__device__ __forceinline__ void st_f32(float* p, float v) { *p = v; }
__device__ __forceinline__ void st_f32(bf16_t* p, float v) { *p = f32_to_bf16(v); }

// Online-softmax merge of two partial states (max m, sum of exp(x − m) l). Either side may be empty (m = −inf).
__device__ __forceinline__ void softmax_merge(float& m, float& l, float m2, float l2) {
    const float mn = fmaxf(m, m2);
    if (mn == neg_inf()) return;
    l = l * expf(m - mn) + l2 * expf(m2 - mn);
    m = mn;
}

// Four consecutive elements as f32 in one vector access (16 bytes of f32, 8 bytes of bf16). The caller guarantees the
// address is aligned to that width (see vec4_ok).
__device__ __forceinline__ void ld4_f32(const float* p, float v[4]) {
    const float4 t = load_f32x4(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
}
__device__ __forceinline__ void ld4_f32(const bf16_t* p, float v[4]) {
    const uint2 t = *(const uint2*)p;
    v[0] = bf16_lo(t.x);
    v[1] = bf16_hi(t.x);
    v[2] = bf16_lo(t.y);
    v[3] = bf16_hi(t.y);
}
__device__ __forceinline__ void st4_f32(float* p, const float v[4]) {
    store_f32x4(p, make_float4(v[0], v[1], v[2], v[3]));
}
__device__ __forceinline__ void st4_f32(bf16_t* p, const float v[4]) {
    *(uint2*)p = make_uint2(pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]));
}
// True when p (null counts as aligned) can be accessed four elements at a time.
template <typename T>
__device__ __forceinline__ bool vec4_ok(const T* p) { return ((u64)p & (4 * sizeof(T) - 1)) == 0; }

// Reads element i of an index tensor stored as int32 (is64 = 0) or int64 (is64 = 1).
__device__ __forceinline__ i64 ld_index(const void* p, int is64, i64 i) {
    return is64 ? ((const i64*)p)[i] : (i64)((const int*)p)[i];
}

// Adds one logit x to a running softmax state (max m, Σ exp(· − m) l). −inf logits carry no weight and are skipped,
// so an all −inf row keeps m = −inf, l = 0.
__device__ __forceinline__ void softmax_push(float& m, float& l, float x) {
    if (x == neg_inf()) return;
    if (x > m) {
        l = l * expf(m - x) + 1.0f;
        m = x;
    } else {
        l += expf(x - m);
    }
}

// Merges the softmax states of the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ void softmax_merge_warp(float& m, float& l) {
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
        const float l2 = __shfl_xor_sync(0xffffffffu, l, o);
        softmax_merge(m, l, m2, l2);
    }
}
