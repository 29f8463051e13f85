// elementwise.cu — pointwise arithmetic over flat contiguous arrays (activations: activations.cu; casts: cast.cu).
//
// defines:  add_fwd_f32_v1, add_fwd_f32_v2 (default), add_fwd_bf16, sub_fwd_f32, sub_fwd_bf16, mul_fwd_f32,
//           mul_fwd_bf16, div_fwd_f32, div_fwd_bf16, mul_bwd_f32, mul_bwd_bf16, div_bwd_f32, scale_fwd_f32,
//           scale_fwd_bf16, axpby_fwd_f32, axpby_fwd_bf16
// math:     add  y = a + b          sub  y = a − b    (backward: da = dy, db = ±dy — no kernel needed)
//           mul  y = a · b;         da = dy · b,      db = dy · a
//           div  y = a / b;         da = dy / b,      db = −dy · a / b²
//           scale  y = alpha · x + beta               (backward: dx = alpha · dy, the same kernel with beta = 0)
//           axpby  y = alpha · x + beta · y           (gradient accumulation is axpby with alpha = beta = 1;
//                                                      beta = 0 ignores y, so uninitialised NaN does not leak)
// shapes:   every array is flat and contiguous with n elements (long long n); outputs may alias inputs
//           element for element; bf16 arrays are raw 16-bit storage, math in f32, one rounding on store
// launch:   add_fwd_f32_v1 one element per thread    grid ceil_div(n, 256)    block 256
//           add_fwd_f32_v2 four elements per thread  grid ceil_div(n, 1024)   block 256; float4 when every pointer is
//                          16-byte aligned, scalar otherwise
//           all others     grid ceil_div(n, 256) block 256
//           every kernel loops grid-stride, so any grid size is correct (a smaller grid just does more per thread)
// floor:    memory-bound: binary ops move 12·n bytes (f32) or 6·n (bf16), scale 8·n, axpby 12·n, mul_bwd 20·n;
//           target ≥ 80 % of peak DRAM bandwidth for n ≥ 16M — not yet measured on a card
// variants: add_fwd_f32: v1 teaching (one scalar per thread, the CPU loop as a grid); v2 default (float4 loads,
//           a quarter of the memory instructions)
// ref:      src/Med2E3.Native.Ops/Ops/Elementwise.cs → Elementwise.BinaryReference (contiguous a, b),
//           Elementwise.ScaleReference; conformance: tests/Med2E3.Native.Tests.Cuda/Runtime/CpuReference.cs
// verify:   dotnet run --project tests/Med2E3.Native.Tests.Cuda -- -class *ElementwiseKernelTests
//           bench: med2e3-bench elementwise
#include "common.cuh"

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

extern "C" __global__ void sub_fwd_f32(const float* a, const float* b, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = a[i] - b[i];
    }
}

extern "C" __global__ void sub_fwd_bf16(const bf16_t* a, const bf16_t* b, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(bf16_to_f32(a[i]) - bf16_to_f32(b[i]));
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

// IEEE division (no --use_fast_math), so a / b is correctly rounded like the CPU's.
extern "C" __global__ void div_fwd_f32(const float* a, const float* b, float* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = a[i] / b[i];
    }
}

extern "C" __global__ void div_fwd_bf16(const bf16_t* a, const bf16_t* b, bf16_t* y, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(bf16_to_f32(a[i]) / bf16_to_f32(b[i]));
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

// alpha · x + beta with one rounding (fmaf), as the reference computes it in higher precision and rounds once.
extern "C" __global__ void div_bwd_f32(const float* dy, const float* a, const float* b, float* da, float* db, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float g = dy[i];
        const float av = a[i];
        const float bv = b[i];
        const float ga = g / bv;
        da[i] = ga;
        // −dy·a/b² written as −(dy/b)·(a/b): both factors stay in range where b² would overflow or underflow.
        db[i] = -ga * (av / bv);
    }
}

extern "C" __global__ void scale_fwd_f32(const float* x, float* y, float alpha, float beta, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = fmaf(alpha, x[i], beta);
    }
}

extern "C" __global__ void scale_fwd_bf16(const bf16_t* x, bf16_t* y, float alpha, float beta, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        y[i] = f32_to_bf16(fmaf(alpha, bf16_to_f32(x[i]), beta));
    }
}

extern "C" __global__ void axpby_fwd_f32(const float* x, float* y, float alpha, float beta, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        // beta == 0 must ignore y entirely (it may hold NaN from an uninitialised buffer), as BLAS does.
        y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
    }
}

extern "C" __global__ void axpby_fwd_bf16(const bf16_t* x, bf16_t* y, float alpha, float beta, i64 n)
{
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        const float ax = alpha * bf16_to_f32(x[i]);
        y[i] = f32_to_bf16(beta == 0.0f ? ax : ax + beta * bf16_to_f32(y[i]));
    }
}
