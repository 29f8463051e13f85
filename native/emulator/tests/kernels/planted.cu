// planted.cu — kernels with one deliberate bug each, next to the correct kernel, for the emulator's own tests
// (selftest.cpp): every check of the emulator must catch its bug and pass the correct version.
#include "common.cuh"

// ---- a missing __syncthreads: each thread reads the value its neighbour wrote into shared memory ----------------
extern "C" __global__ void neighbour_nosync(const float* x, float* y) {
    __shared__ float s[256];
    const int i = blockIdx.x * 256 + threadIdx.x;
    s[threadIdx.x] = x[i];
    // the barrier belongs here
    y[i] = s[(threadIdx.x + 1) & 255];
}
extern "C" __global__ void neighbour_sync(const float* x, float* y) {
    __shared__ float s[256];
    const int i = blockIdx.x * 256 + threadIdx.x;
    s[threadIdx.x] = x[i];
    __syncthreads();
    y[i] = s[(threadIdx.x + 1) & 255];
}

// ---- an off-by-one bound ----------------------------------------------------------------------------------------
extern "C" __global__ void copy_le(const float* x, float* y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = x[i];
}
extern "C" __global__ void copy_lt(const float* x, float* y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i];
}

// ---- a params struct the host lays out differently from the kernel (fields a and n swapped on the host) -------------
struct ScaleParams {
    const float* x;
    float* y;
    float a;
    int n;
};
extern "C" __global__ void scale_struct(ScaleParams p) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) p.y[i] = p.a * p.x[i];
}
// plain arguments: the host passes an int where the kernel takes a long long
extern "C" __global__ void scale_wide(const float* x, float* y, long long n, float a) {
    for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) y[i] = a * x[i];
}

// ---- shared memory overflows ---------------------------------------------------------------------------------------
extern "C" __global__ void static_overflow(float* y, int extra) {
    __shared__ float s[64];
    s[threadIdx.x + extra] = (float)threadIdx.x;  // extra = 1 writes s[64]
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void dynamic_overflow(float* y, int extra) {
    extern __shared__ float buf[];
    buf[threadIdx.x + extra] = (float)threadIdx.x;  // the launch gives blockDim.x floats
    __syncthreads();
    y[threadIdx.x] = buf[threadIdx.x];
}

// ---- reading memory nobody wrote -----------------------------------------------------------------------------------
extern "C" __global__ void half_written(float* y, int written) {
    __shared__ float s[64];
    if ((int)threadIdx.x < written) s[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void read_global(const float* x, float* y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] + 1.0f;
}

// ---- a full-mask warp reduction ---------------------------------------------------------------------------------------
// warp_sum of common.cuh names all 32 lanes: in a block of 48 threads the second warp has only 16.
extern "C" __global__ void warp_totals(const float* x, float* y) {
    const float v = warp_sum(x[threadIdx.x]);
    if ((threadIdx.x & 31) == 0) y[threadIdx.x >> 5] = v;
}

// ---- an early return before a barrier ----------------------------------------------------------------------------------
extern "C" __global__ void early_return(float* y, int n) {
    __shared__ float s[32];
    if ((int)threadIdx.x >= n) return;  // the threads past n leave; the others then wait at the barrier
    if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x & 31];
}
extern "C" __global__ void guarded_tail(float* y, int n) {
    __shared__ float s[32];
    if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
    __syncthreads();
    if ((int)threadIdx.x < n) y[threadIdx.x] = s[threadIdx.x & 31];
}

// ---- launch limits -------------------------------------------------------------------------------------------------------
extern "C" __global__ void __launch_bounds__(128) bounded(float* y) { y[blockIdx.x * blockDim.x + threadIdx.x] = 1.0f; }
extern "C" __global__ void __launch_bounds__(2 * 32, 4) bounded_min_blocks(float* y) { y[threadIdx.x] = 1.0f; }
extern "C" __global__ void big_static(float* y) {
    __shared__ float s[2048];  // 8 KiB of static shared memory
    s[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}

// ---- faults -----------------------------------------------------------------------------------------------------------
extern "C" __global__ void poke(float* y, int bad_block, int bad_thread) {
    float* p = y + blockIdx.x * blockDim.x + threadIdx.x;
    if ((int)blockIdx.x == bad_block && (int)threadIdx.x == bad_thread) p = (float*)16;
    *p = 1.0f;
}
extern "C" __global__ void divide(int* y, int d) { y[threadIdx.x] = (int)threadIdx.x / d; }
__device__ __attribute__((noinline)) float deep_frame(int depth) {
    volatile float frame[1024];  // 4 KiB per level: a deep enough recursion overflows the thread's stack
    frame[depth & 1023] = (float)depth;
    return depth > 0 ? deep_frame(depth - 1) + frame[depth & 1023] : frame[0];
}
extern "C" __global__ void deep(float* y, int depth) { y[threadIdx.x] = deep_frame(depth); }
extern "C" __global__ void checked(const int* x) { assert(x[threadIdx.x] >= 0); }

// ---- collectives and the schedules -------------------------------------------------------------------------------------
extern "C" __global__ void block_total(const float* x, float* y) {
    __shared__ float scratch[32];
    const float v = block_sum(x[blockIdx.x * blockDim.x + threadIdx.x], scratch);
    if (threadIdx.x == 0) y[blockIdx.x] = v;
}
extern "C" __global__ void votes(const int* x, unsigned* ballots, int* counts) {
    const int p = x[threadIdx.x] > 0;
    const unsigned b = __ballot_sync(0xffffffffu, p);
    const int any = __any_sync(0xffffffffu, p), all = __all_sync(0xffffffffu, p);
    const int c = __syncthreads_count(p);
    if ((threadIdx.x & 31) == 0) {
        ballots[threadIdx.x >> 5] = b;
        counts[3 * (threadIdx.x >> 5)] = any;
        counts[3 * (threadIdx.x >> 5) + 1] = all;
        counts[3 * (threadIdx.x >> 5) + 2] = c;
    }
}
extern "C" __global__ void shuffles(const int* x, int* y) {
    const int v = x[threadIdx.x];
    y[4 * threadIdx.x] = __shfl_sync(0xffffffffu, v, 7);
    y[4 * threadIdx.x + 1] = __shfl_up_sync(0xffffffffu, v, 3);
    y[4 * threadIdx.x + 2] = __shfl_down_sync(0xffffffffu, v, 5, 16);
    y[4 * threadIdx.x + 3] = __shfl_xor_sync(0xffffffffu, v, 9);
}
extern "C" __global__ void atomics(float* f, unsigned* u, double* d) {
    atomicAdd(f, 1.0f);
    atomicAdd(u, 1u);
    atomicMax(u + 1, (unsigned)(blockIdx.x * blockDim.x + threadIdx.x));
    atomicAdd(d, 0.5);
}

// ---- cp.async: a copy lands when its thread waits for its group, not at a barrier -------------------------------------
// 64 threads, each copying 16 bytes (4 floats) of x into shared memory and reading a neighbour's 4 floats back.
extern "C" __global__ void async_nowait(const float* x, float* y) {
    __shared__ float s[256];
    ::emu::cp_async(s + 4 * threadIdx.x, x + 4 * threadIdx.x, 16, 16);
    ::emu::cp_async_commit();
    __syncthreads();  // a barrier does not complete the copies: the cp.async.wait_group belongs before it
    for (int e = 0; e < 4; e++) y[4 * threadIdx.x + e] = s[(4 * threadIdx.x + 4 + e) & 255];
}
// Threads at or past `full_below` copy zero source bytes: their 16 bytes are filled with zeros.
extern "C" __global__ void async_wait(const float* x, float* y, int full_below) {
    __shared__ float s[256];
    ::emu::cp_async(s + 4 * threadIdx.x, x + 4 * threadIdx.x, 16, (int)threadIdx.x < full_below ? 16 : 0);
    ::emu::cp_async_commit();
    ::emu::cp_async_wait(0);
    __syncthreads();
    for (int e = 0; e < 4; e++) y[4 * threadIdx.x + e] = s[(4 * threadIdx.x + 4 + e) & 255];
}
// Two groups, then wait_group 1: the older group has landed, the newer one is still in flight.
extern "C" __global__ void async_groups(const float* x, float* y) {
    __shared__ float s[512];
    ::emu::cp_async(s + 4 * threadIdx.x, x + 4 * threadIdx.x, 16, 16);
    ::emu::cp_async_commit();
    ::emu::cp_async(s + 256 + 4 * threadIdx.x, x + 256 + 4 * threadIdx.x, 16, 16);
    ::emu::cp_async_commit();
    ::emu::cp_async_wait(1);
    y[threadIdx.x] = s[4 * threadIdx.x];
    y[64 + threadIdx.x] = s[256 + 4 * threadIdx.x];
    ::emu::cp_async_wait(0);
    y[128 + threadIdx.x] = s[256 + 4 * threadIdx.x];
}
// A 16-byte copy to an address 4 bytes off the 16-byte grid.
extern "C" __global__ void async_misaligned(const float* x, float* y) {
    __shared__ float s[260];
    ::emu::cp_async(s + 1 + 4 * threadIdx.x, x + 4 * threadIdx.x, 16, 16);
    ::emu::cp_async_wait(0);
    y[threadIdx.x] = s[1 + 4 * threadIdx.x];
}
