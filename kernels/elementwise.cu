// elementwise.cu — pointwise arithmetic and activations over flat contiguous arrays.
//
// defines:  add_fwd_f32_v1, add_fwd_f32_v2 (default), add_fwd_bf16, mul_fwd_f32, mul_fwd_bf16, mul_bwd_f32,
//           mul_bwd_bf16, scale_fwd_f32, scale_fwd_bf16, axpby_fwd_f32, gelu_fwd_f32, gelu_fwd_bf16, gelu_bwd_f32,
//           silu_fwd_f32, silu_fwd_bf16, silu_bwd_f32, cast_fwd_f32_to_bf16, cast_fwd_bf16_to_f32
// math:     add    y = a + b                          (backward: da = db = dy, no kernel needed)
//           mul    y = a · b;  da = dy · b, db = dy · a
//           scale  y = alpha · x                      (backward: dx = alpha · dy, the same kernel)
//           axpby  y = alpha · x + beta · y           (gradient accumulation is axpby with alpha = beta = 1)
//           gelu   y = x · Φ(x) = ½ x (1 + erf(x / √2));  dx = dy · (Φ(x) + x · φ(x)),  φ(x) = e^(−x²/2) / √(2π)
//           silu   y = x · σ(x);  dx = dy · σ(x) · (1 + x · (1 − σ(x)))
//           cast   f32 → bf16 rounds to nearest even; bf16 → f32 is exact
// shapes:   every array is flat and contiguous with n elements (long long n); outputs may alias inputs
//           elementwise; bf16 arrays are raw 16-bit storage, math in f32, one rounding on store
// launch:   v1 one element per thread    grid ceil_div(n, 256)      block 256
//           v2 four elements per thread  grid ceil_div(n, 1024)     block 256, float4 when all pointers are 16-byte
//              aligned (scalar otherwise); every other kernel: grid ceil_div(n, 256) block 256
//           all kernels use grid-stride loops, so a smaller grid is still correct
// floor:    memory-bound: add/mul move 12·n bytes (f32), 6·n (bf16); scale, gelu, silu, cast 8·n (f32);
//           target ≥ 80 % of peak DRAM bandwidth for n ≥ 16M — not yet measured on a card
// variants: add_fwd_f32: v1 teaching (one scalar per thread, the CPU loop as a grid); v2 default (float4 loads
//           halve the number of memory instructions)
// ref:      src/Med2E3.Native.Ops/Ops/Elementwise.cs → Elementwise.Cpu* (until it lands:
//           tests/Med2E3.Native.Tests.Cuda/Runtime/CpuReference.cs)
// verify:   dotnet run --project tests/Med2E3.Native.Tests.Cuda -- -class *ElementwiseKernelTests
//           bench: med2e3-bench elementwise
#include "common.cuh"

// Constants of the exact GELU, written out so that no toolkit header is needed.
#define M_SQRT1_2_F 0.70710678118654752440f
#define M_1_SQRT_2PI_F 0.39894228040143267794f

extern "C" __global__ void add_fwd_f32_v1(const float* a, const float* b, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = a[i] + b[i];
    }
}

extern "C" __global__ void add_fwd_f32_v2(const float* a, const float* b, float* y, i64 n)
{
    // The alignment test is uniform across the grid, so the branch never diverges within a warp.
    if (is_aligned16(a) && is_aligned16(b) && is_aligned16(y)) {
        const i64 quads = n >> 2;
        for (i64 q = global_thread(); q < quads; q += grid_stride()) {
            float4 va = load_f32x4(a + 4 * q);
            float4 vb = load_f32x4(b + 4 * q);
            store_f32x4(y + 4 * q, make_float4(va.x + vb.x, va.y + vb.y, va.z + vb.z, va.w + vb.w));
        }
        // The last n % 4 elements, one per thread of the first block.
        const i64 tail = quads << 2;
        if (blockIdx.x == 0 && tail + threadIdx.x < n) {
            y[tail + threadIdx.x] = a[tail + threadIdx.x] + b[tail + threadIdx.x];
        }
        return;
    }
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = a[i] + b[i];
    }
}

extern "C" __global__ void add_fwd_bf16(const bf16_t* a, const bf16_t* b, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i]));
    }
}

extern "C" __global__ void mul_fwd_f32(const float* a, const float* b, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = a[i] * b[i];
    }
}

extern "C" __global__ void mul_fwd_bf16(const bf16_t* a, const bf16_t* b, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(bf16_to_f32(a[i]) * bf16_to_f32(b[i]));
    }
}

extern "C" __global__ void mul_bwd_f32(const float* dy, const float* a, const float* b, float* da, float* db, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        // Read both inputs before writing: da or db may alias a or b.
        const float g = dy[i];
        const float av = a[i];
        const float bv = b[i];
        da[i] = g * bv;
        db[i] = g * av;
    }
}

extern "C" __global__ void mul_bwd_bf16(
    const bf16_t* dy, const bf16_t* a, const bf16_t* b, bf16_t* da, bf16_t* db, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float g = bf16_to_f32(dy[i]);
        const float av = bf16_to_f32(a[i]);
        const float bv = bf16_to_f32(b[i]);
        da[i] = f32_to_bf16(g * bv);
        db[i] = f32_to_bf16(g * av);
    }
}

extern "C" __global__ void scale_fwd_f32(const float* x, float* y, float alpha, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = alpha * x[i];
    }
}

extern "C" __global__ void scale_fwd_bf16(const bf16_t* x, bf16_t* y, float alpha, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(alpha * bf16_to_f32(x[i]));
    }
}

extern "C" __global__ void axpby_fwd_f32(const float* x, float* y, float alpha, float beta, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        // beta == 0 must ignore y entirely (it may hold NaN from an uninitialised buffer), as BLAS does.
        y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
    }
}

__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * M_SQRT1_2_F)); }

__device__ __forceinline__ float gelu_grad(float x)
{
    const float cdf = 0.5f * (1.0f + erff(x * M_SQRT1_2_F));
    const float pdf = M_1_SQRT_2PI_F * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

extern "C" __global__ void gelu_fwd_f32(const float* x, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = gelu(x[i]);
    }
}

extern "C" __global__ void gelu_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(gelu(bf16_to_f32(x[i])));
    }
}

extern "C" __global__ void gelu_bwd_f32(const float* dy, const float* x, float* dx, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        dx[i] = dy[i] * gelu_grad(x[i]);
    }
}

// σ(x) = 1 / (1 + e^(−x)); for very negative x, e^(−x) overflows to +inf and σ correctly becomes 0.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

extern "C" __global__ void silu_fwd_f32(const float* x, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float v = x[i];
        y[i] = v * sigmoid(v);
    }
}

extern "C" __global__ void silu_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float v = bf16_to_f32(x[i]);
        y[i] = f32_to_bf16(v * sigmoid(v));
    }
}

extern "C" __global__ void silu_bwd_f32(const float* dy, const float* x, float* dx, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float v = x[i];
        const float s = sigmoid(v);
        dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
    }
}

extern "C" __global__ void cast_fwd_f32_to_bf16(const float* x, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(x[i]);
    }
}

extern "C" __global__ void cast_fwd_bf16_to_f32(const bf16_t* x, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = bf16_to_f32(x[i]);
    }
}
