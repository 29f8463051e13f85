// reduce.cu — sum and mean over the last axis of a row-major matrix, and their backward broadcasts.
//
// defines:  sum_fwd_f32_v1, sum_fwd_f32_v2 (default), sum_fwd_bf16, mean_fwd_f32, mean_fwd_bf16, sum_bwd_f32,
//           mean_bwd_f32
// math:     sum   y[r] = Σc x[r,c]
//           mean  y[r] = Σc x[r,c] / C
//           backward: dx[r,c] = dy[r] (sum),  dx[r,c] = dy[r] / C (mean)
// shapes:   x, dx (N, C) row-major contiguous; y, dy (N); bf16 in → bf16 out, f32 accumulation, one rounding
// launch:   v1 one thread per row    grid ceil_div(N, 256)   block 256
//           v2 one block per row     grid N                  block 256 (blockDim % 32 == 0), static smem 128 B
//           mean_*, sum_fwd_bf16 as v2; *_bwd grid ceil_div(N·C, 256) block 256 (grid-stride)
// floor:    memory-bound, reads 4·N·C bytes (f32); v2 target ≥ 80 % of peak DRAM bandwidth for N·C ≥ 16M and
//           C ≥ 1024 — not yet measured on a card
// variants: sum_fwd_f32: v1 teaching (the CPU loop per thread; uncoalesced, each warp touches 32 rows);
//           v2 default (a block strides along its row, so a warp reads consecutive addresses)
// ref:      src/Med2E3.Native.Ops/Ops/Reduce.cs → Reduce.Reference with inner = 1 (it accumulates in double; the
//           kernels in f32, within the reduction tolerance); conformance: tests/Med2E3.Native.Tests.Cuda/Runtime/CpuReference.cs
// verify:   dotnet run --project tests/Med2E3.Native.Tests.Cuda -- -class *ReduceKernelTests
//           bench: med2e3-bench reduce
#include "common.cuh"

extern "C" __global__ void sum_fwd_f32_v1(const float* x, float* y, i64 rows, int cols)
{
    const i64 r = global_thread();
    if (r >= rows) {
        return;
    }
    const float* row = x + r * cols;
    float acc = 0.0f;
    for (int c = 0; c < cols; ++c) {
        acc += row[c];
    }
    y[r] = acc;
}

// One block per row: thread t accumulates columns t, t + blockDim, …, then the block combines the partial sums.
__device__ __forceinline__ float row_sum_f32(const float* row, int cols, float* scratch)
{
    float acc = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        acc += row[c];
    }
    return block_sum(acc, scratch);
}

__device__ __forceinline__ float row_sum_bf16(const bf16_t* row, int cols, float* scratch)
{
    float acc = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        acc += bf16_to_f32(row[c]);
    }
    return block_sum(acc, scratch);
}

extern "C" __global__ void sum_fwd_f32_v2(const float* x, float* y, i64 rows, int cols)
{
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const float total = row_sum_f32(x + r * cols, cols, scratch);
    if (threadIdx.x == 0) {
        y[r] = total;
    }
}

extern "C" __global__ void sum_fwd_bf16(const bf16_t* x, bf16_t* y, i64 rows, int cols)
{
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const float total = row_sum_bf16(x + r * cols, cols, scratch);
    if (threadIdx.x == 0) {
        y[r] = f32_to_bf16(total);
    }
}

extern "C" __global__ void mean_fwd_f32(const float* x, float* y, i64 rows, int cols)
{
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const float total = row_sum_f32(x + r * cols, cols, scratch);
    if (threadIdx.x == 0) {
        // Divide (not multiply by 1/C) so the result matches the CPU reference's Σ / C exactly.
        y[r] = total / (float)cols;
    }
}

extern "C" __global__ void mean_fwd_bf16(const bf16_t* x, bf16_t* y, i64 rows, int cols)
{
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const float total = row_sum_bf16(x + r * cols, cols, scratch);
    if (threadIdx.x == 0) {
        y[r] = f32_to_bf16(total / (float)cols);
    }
}

extern "C" __global__ void sum_bwd_f32(const float* dy, float* dx, i64 rows, int cols)
{
    const i64 n = rows * cols;
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        dx[i] = dy[i / cols];
    }
}

extern "C" __global__ void mean_bwd_f32(const float* dy, float* dx, i64 rows, int cols)
{
    const i64 n = rows * cols;
    for (i64 i = global_thread(); i < n; i += grid_stride()) {
        dx[i] = dy[i / cols] / (float)cols;
    }
}
