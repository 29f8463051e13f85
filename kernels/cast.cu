// cast.cu — dtype conversions between f32, bf16 and f16, round-to-nearest-even.
//
// defines:  cast_fwd_f32_to_bf16, cast_fwd_bf16_to_f32, cast_fwd_f32_to_f16, cast_fwd_f16_to_f32, cast_fwd_bf16_to_f16,
//           cast_fwd_f16_to_bf16
// math:     y = round_to_nearest_even(x) in the destination format (`cast_fwd_<src>_<dst>`). Widening casts are
//           exact. f32 → bf16 keeps the top 16 bits after RNE; NaN stays NaN (quiet); overflow rounds to ±inf.
//           f32 → f16 is the hardware cvt.rn.f16.f32 (subnormals kept, overflow to ±inf). bf16 ↔ f16 goes through
//           f32, which is exact on the way in, so there is a single rounding.
//           The backward of a cast is the cast in the other direction (no extra kernels).
// shapes:   x, y (n) contiguous; f16 and bf16 are raw 16-bit patterns. (elementwise.cu has an f32 ⇄ bf16 pair as
//           well; these are the ones the op library launches.)
// launch:   grid-stride, 4 elements per thread-step when n % 4 == 0 and both pointers allow it:
//           grid min(ceil_div(n, 1024), 8·SMs), block 256
// floor:    memory-bound, n·(src + dst) bytes; not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Tensors/TensorMath.cs → TensorMath.CpuCopy (Precision.FloatToBf16, (Half) casts)
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (PointwiseConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// IEEE half as its bit pattern. bf16_t and f16_t are the same 16-bit integer type, so a wrapper lets overloads tell
// the two formats apart.
struct f16raw {
    f16_t bits;
};

__device__ __forceinline__ float cast_in(float v) { return v; }
__device__ __forceinline__ float cast_in(bf16_t v) { return bf16_to_f32(v); }
__device__ __forceinline__ float cast_in(f16raw v) { return f16_to_f32(v.bits); }
__device__ __forceinline__ void cast_out(float* p, float v) { *p = v; }
__device__ __forceinline__ void cast_out(bf16_t* p, float v) { *p = f32_to_bf16(v); }
__device__ __forceinline__ void cast_out(f16raw* p, float v) { p->bits = f32_to_f16(v); }

// Four elements as one aligned vector access.
template <typename E>
struct alignas(4 * sizeof(E)) Pack4 {
    E v[4];
};

// Elements go through registers four at a time (one aligned vector load of the source type, one vector store of the
// destination type), so a bf16 → f32 cast reads 8 bytes and writes 16 bytes per thread-step.
template <typename S, typename D>
__device__ __forceinline__ void cast_impl(const S* x, D* y, i64 n) {
    const i64 stride = grid_stride();
    const i64 t = global_thread();
    const bool vec = (n & 3) == 0 && ((size_t)x & (4 * sizeof(S) - 1)) == 0 && ((size_t)y & (4 * sizeof(D) - 1)) == 0;
    if (vec) {
        for (i64 i = t * 4; i < n; i += stride * 4) {
            const Pack4<S> in = *(const Pack4<S>*)(x + i);
            Pack4<D> out;
#pragma unroll
            for (int k = 0; k < 4; ++k) cast_out(&out.v[k], cast_in(in.v[k]));
            *(Pack4<D>*)(y + i) = out;
        }
    } else {
        for (i64 i = t; i < n; i += stride) cast_out(y + i, cast_in(x[i]));
    }
}

extern "C" __global__ void cast_fwd_f32_to_bf16(const float* x, bf16_t* y, i64 n) { cast_impl(x, y, n); }
extern "C" __global__ void cast_fwd_bf16_to_f32(const bf16_t* x, float* y, i64 n) { cast_impl(x, y, n); }
extern "C" __global__ void cast_fwd_f32_to_f16(const float* x, f16raw* y, i64 n) { cast_impl(x, y, n); }
extern "C" __global__ void cast_fwd_f16_to_f32(const f16raw* x, float* y, i64 n) { cast_impl(x, y, n); }
extern "C" __global__ void cast_fwd_bf16_to_f16(const bf16_t* x, f16raw* y, i64 n) { cast_impl(x, y, n); }
extern "C" __global__ void cast_fwd_f16_to_bf16(const f16raw* x, bf16_t* y, i64 n) { cast_impl(x, y, n); }
