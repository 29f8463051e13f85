// adamw.cu — fused AdamW step (torch.optim.AdamW semantics) and the sum of squares for gradient-norm clipping.
//
// defines:  adamw_fwd_f32, adamw_fwd_bf16, sumsq_fwd_f32, sumsq_fwd_bf16
// math:     one step, per element, in f32 (bc1 = 1 − β1^t, bc2 = 1 − β2^t computed on the host in double):
//             p ← p · (1 − lr·wd)
//             m ← β1·m + (1 − β1)·g
//             v ← β2·v + (1 − β2)·g²
//             p ← p − (lr / bc1) · m / (√v / √bc2 + eps)
//           bf16 parameters and moments are updated in f32 and rounded once each (round-to-nearest-even).
//           sumsq: acc += Σ x² (each thread sums in double, one atomicAdd per warp into a double accumulator the
//           caller zeroed); the global norm for clipping is √ of the sum over all gradients.
// shapes:   param, grad, m, v (n) contiguous, all f32 (adamw_fwd_f32) or all bf16 (adamw_fwd_bf16).
//           sumsq: x (n) f32 or bf16, acc one double.
// launch:   grid-stride: grid min(ceil_div(n, 256), 8·SMs), block 256
// floor:    memory-bound: the step reads p, g, m, v and writes p, m, v: 7·sizeof(T) bytes per element;
//           not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Optim.cs → Optim.AdamWReference, Optim.SumOfSquaresReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (ConvPoolOptimConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of adamw_fwd_* (named apart from the C# AdamWParams record, which carries the hyper-parameters).
struct AdamWStepParams {
    void* param;         // (n) parameters, updated in place, f32 or bf16
    const void* grad;    // (n) gradients, dtype of param
    void* m;             // (n) first moment, dtype of param, updated in place
    void* v;             // (n) second moment, dtype of param, updated in place
    size_t n;            // element count
    float lr;            // learning rate
    float beta1;         // first-moment decay
    float beta2;         // second-moment decay
    float eps;           // added after the square root
    float weight_decay;  // decoupled decay: p ← p·(1 − lr·wd)
    float bc1;           // 1 − β1^step
    float bc2;           // 1 − β2^step
    int pad_;            // keeps the size a multiple of 8
};
static_assert(sizeof(AdamWStepParams) == 72, "AdamWStepParams layout is mirrored in C#");

template <typename T>
__device__ __forceinline__ void adamw_impl(const AdamWStepParams& p) {
    T* param = (T*)p.param;
    const T* grad = (const T*)p.grad;
    const float decay = 1.0f - p.lr * p.weight_decay;
    const float step = p.lr / p.bc1;
    const float rbc2 = 1.0f / sqrtf(p.bc2);
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride) {
        const float g = ld_f32(grad + i);
        const float m = p.beta1 * ld_f32((T*)p.m + i) + (1.0f - p.beta1) * g;
        const float v = p.beta2 * ld_f32((T*)p.v + i) + (1.0f - p.beta2) * g * g;
        st_f32((T*)p.m + i, m);
        st_f32((T*)p.v + i, v);
        const float w = ld_f32(param + i) * decay;
        st_f32(param + i, w - step * m / (sqrtf(v) * rbc2 + p.eps));
    }
}

extern "C" __global__ void adamw_fwd_f32(AdamWStepParams p) { adamw_impl<float>(p); }
extern "C" __global__ void adamw_fwd_bf16(AdamWStepParams p) { adamw_impl<bf16_t>(p); }

template <typename T>
__device__ __forceinline__ void sumsq_impl(const T* x, size_t n, double* acc) {
    double s = 0.0;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const double v = ld_f32(x + i);
        s += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(acc, s);
}

extern "C" __global__ void sumsq_fwd_f32(const float* x, size_t n, double* acc) { sumsq_impl(x, n, acc); }
extern "C" __global__ void sumsq_fwd_bf16(const bf16_t* x, size_t n, double* acc) { sumsq_impl(x, n, acc); }
