// activations.cu — pointwise unary functions (activations, exp, log, …) and Phi-3's gated SiLU, forward and backward.
//
// defines:  gelu_fwd_f32, gelu_fwd_bf16, gelu_bwd_f32, gelu_bwd_bf16,
//           gelu_tanh_fwd_f32, gelu_tanh_fwd_bf16, gelu_tanh_bwd_f32, gelu_tanh_bwd_bf16,
//           silu_fwd_f32, silu_fwd_bf16, silu_bwd_f32, silu_bwd_bf16,
//           tanh_fwd_f32, tanh_fwd_bf16, tanh_bwd_f32, tanh_bwd_bf16,
//           sigmoid_fwd_f32, sigmoid_fwd_bf16, sigmoid_bwd_f32, sigmoid_bwd_bf16,
//           relu_fwd_f32, relu_fwd_bf16, relu_bwd_f32, relu_bwd_bf16,
//           neg_fwd_f32, neg_fwd_bf16, neg_bwd_f32, neg_bwd_bf16, exp_fwd_f32, exp_fwd_bf16, exp_bwd_f32, exp_bwd_bf16,
//           log_fwd_f32, log_fwd_bf16, log_bwd_f32, log_bwd_bf16, sqrt_fwd_f32, sqrt_fwd_bf16, sqrt_bwd_f32,
//           sqrt_bwd_bf16,
//           gated_silu_fwd_f32, gated_silu_fwd_bf16, gated_silu_bwd_f32, gated_silu_bwd_bf16
// math:     gelu (exact):  y = ½x(1 + erf(x/√2))                dy/dx = ½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π)
//           gelu_tanh:     u = √(2/π)(x + 0.044715x³), t = tanh u, y = ½x(1 + t)
//                          dy/dx = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)
//           silu:          y = x·σ(x)                            dy/dx = σ(x)(1 + x(1 − σ(x)))
//           tanh:          y = tanh x                            dy/dx = 1 − tanh²x
//           sigmoid:       y = σ(x) = 1/(1 + e^−x)               dy/dx = σ(x)(1 − σ(x))
//           relu:          y = max(x, 0)                         dy/dx = 1 if x > 0 else 0
//           neg, exp, log, sqrt: −x, eˣ, ln x, √x                −1, eˣ, 1/x, 1/(2√x)
//           gated_silu:    gate = gu[r, 0:F], up = gu[r, F:2F] (Phi-3 gate_up_proj: gate first)
//                          y[r,f] = up · silu(gate)
//                          dgate = dy·up·silu'(gate), dup = dy·silu(gate), written to dgu[r, 0:F] and dgu[r, F:2F]
//           every backward takes the forward input x (not y) and writes dx = dy · dy/dx (not accumulated)
// shapes:   pointwise: x, y, dy, dx (n) contiguous, f32 or bf16, any n.
//           gated: gu, dgu (N, 2F), y, dy (N, F) row-major contiguous.
// launch:   pointwise: grid-stride, grid min(ceil_div(n, 4·256), 8·SMs), block 256, 4 elements per thread-step
//           gated:     grid-stride over N·F outputs, same launch rule with n = N·F
// floor:    memory-bound, (in + out) bytes per element (bwd: 2 in + 1 out); not yet measured on a device.
// variants: default only (4-wide vector loads when n % 4 == 0 and every pointer is aligned, scalar otherwise)
// ref:      src/Med2E3.Native.Ops/Ops/Elementwise.cs → Elementwise.UnaryReference / .UnaryBackwardReference,
//           Elementwise.GatedSiluReference / .GatedSiluBackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (PointwiseConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// ---- the scalar math, one struct per activation -------------------------------------------------------------------

struct GeluErf {
    __device__ static float f(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
    __device__ static float df(float x) {
        return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
    }
};
struct GeluTanh {
    __device__ static float f(float x) {
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    }
    __device__ static float df(float x) {
        const float t = tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * x * x);
    }
};
// σ(x) = 1 / (1 + e^−x). For x → −∞, e^−x overflows to +inf and σ → 0 exactly, which is the right limit.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
struct Silu {
    __device__ static float f(float x) { return x * sigmoid(x); }
    __device__ static float df(float x) {
        const float s = sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
};
struct Sigmoid {
    __device__ static float f(float x) { return sigmoid(x); }
    __device__ static float df(float x) {
        const float s = sigmoid(x);
        return s * (1.0f - s);
    }
};
struct Relu {
    __device__ static float f(float x) { return x > 0.0f ? x : 0.0f; }
    __device__ static float df(float x) { return x > 0.0f ? 1.0f : 0.0f; }
};
struct Neg {
    __device__ static float f(float x) { return -x; }
    __device__ static float df(float) { return -1.0f; }
};
struct Exp {
    __device__ static float f(float x) { return expf(x); }
    __device__ static float df(float x) { return expf(x); }
};
struct Log {
    __device__ static float f(float x) { return logf(x); }
    __device__ static float df(float x) { return 1.0f / x; }
};
struct Sqrt {
    __device__ static float f(float x) { return sqrtf(x); }
    __device__ static float df(float x) { return 0.5f / sqrtf(x); }
};
struct Tanh {
    __device__ static float f(float x) { return tanhf(x); }
    __device__ static float df(float x) {
        const float t = tanhf(x);
        return 1.0f - t * t;
    }
};

// ---- pointwise kernels --------------------------------------------------------------------------------------------

// y = f(x). Vector steps of 4 elements when the whole range allows them; otherwise one element per step.
template <typename Op, typename T>
__device__ __forceinline__ void act_fwd(const T* x, T* y, i64 n) {
    const i64 stride = grid_stride();
    const i64 t = global_thread();
    if ((n & 3) == 0 && vec4_ok(x) && vec4_ok(y)) {
        for (i64 i = t * 4; i < n; i += stride * 4) {
            float v[4];
            ld4_f32(x + i, v);
#pragma unroll
            for (int k = 0; k < 4; ++k) v[k] = Op::f(v[k]);
            st4_f32(y + i, v);
        }
    } else {
        for (i64 i = t; i < n; i += stride) st_f32(y + i, Op::f(ld_f32(x + i)));
    }
}

// dx = dy · f'(x).
template <typename Op, typename T>
__device__ __forceinline__ void act_bwd(const T* x, const T* dy, T* dx, i64 n) {
    const i64 stride = grid_stride();
    const i64 t = global_thread();
    if ((n & 3) == 0 && vec4_ok(x) && vec4_ok(dy) && vec4_ok(dx)) {
        for (i64 i = t * 4; i < n; i += stride * 4) {
            float v[4], g[4];
            ld4_f32(x + i, v);
            ld4_f32(dy + i, g);
#pragma unroll
            for (int k = 0; k < 4; ++k) v[k] = g[k] * Op::df(v[k]);
            st4_f32(dx + i, v);
        }
    } else {
        for (i64 i = t; i < n; i += stride) st_f32(dx + i, ld_f32(dy + i) * Op::df(ld_f32(x + i)));
    }
}

extern "C" __global__ void gelu_fwd_f32(const float* x, float* y, i64 n) { act_fwd<GeluErf>(x, y, n); }
extern "C" __global__ void gelu_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<GeluErf>(x, y, n); }
extern "C" __global__ void gelu_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<GeluErf>(x, dy, dx, n);
}
extern "C" __global__ void gelu_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<GeluErf>(x, dy, dx, n);
}

extern "C" __global__ void gelu_tanh_fwd_f32(const float* x, float* y, i64 n) { act_fwd<GeluTanh>(x, y, n); }
extern "C" __global__ void gelu_tanh_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<GeluTanh>(x, y, n); }
extern "C" __global__ void gelu_tanh_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<GeluTanh>(x, dy, dx, n);
}
extern "C" __global__ void gelu_tanh_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<GeluTanh>(x, dy, dx, n);
}

extern "C" __global__ void silu_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Silu>(x, y, n); }
extern "C" __global__ void silu_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Silu>(x, y, n); }
extern "C" __global__ void silu_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Silu>(x, dy, dx, n);
}
extern "C" __global__ void silu_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Silu>(x, dy, dx, n);
}

extern "C" __global__ void tanh_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Tanh>(x, y, n); }
extern "C" __global__ void tanh_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Tanh>(x, y, n); }
extern "C" __global__ void tanh_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Tanh>(x, dy, dx, n);
}
extern "C" __global__ void tanh_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Tanh>(x, dy, dx, n);
}

extern "C" __global__ void sigmoid_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Sigmoid>(x, y, n); }
extern "C" __global__ void sigmoid_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Sigmoid>(x, y, n); }
extern "C" __global__ void sigmoid_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Sigmoid>(x, dy, dx, n);
}
extern "C" __global__ void sigmoid_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Sigmoid>(x, dy, dx, n);
}

extern "C" __global__ void relu_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Relu>(x, y, n); }
extern "C" __global__ void relu_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Relu>(x, y, n); }
extern "C" __global__ void relu_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Relu>(x, dy, dx, n);
}
extern "C" __global__ void relu_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Relu>(x, dy, dx, n);
}

extern "C" __global__ void neg_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Neg>(x, y, n); }
extern "C" __global__ void neg_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Neg>(x, y, n); }
extern "C" __global__ void neg_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Neg>(x, dy, dx, n);
}
extern "C" __global__ void neg_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Neg>(x, dy, dx, n);
}

extern "C" __global__ void exp_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Exp>(x, y, n); }
extern "C" __global__ void exp_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Exp>(x, y, n); }
extern "C" __global__ void exp_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Exp>(x, dy, dx, n);
}
extern "C" __global__ void exp_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Exp>(x, dy, dx, n);
}

extern "C" __global__ void log_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Log>(x, y, n); }
extern "C" __global__ void log_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Log>(x, y, n); }
extern "C" __global__ void log_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Log>(x, dy, dx, n);
}
extern "C" __global__ void log_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Log>(x, dy, dx, n);
}

extern "C" __global__ void sqrt_fwd_f32(const float* x, float* y, i64 n) { act_fwd<Sqrt>(x, y, n); }
extern "C" __global__ void sqrt_fwd_bf16(const bf16_t* x, bf16_t* y, i64 n) { act_fwd<Sqrt>(x, y, n); }
extern "C" __global__ void sqrt_bwd_f32(const float* x, const float* dy, float* dx, i64 n) {
    act_bwd<Sqrt>(x, dy, dx, n);
}
extern "C" __global__ void sqrt_bwd_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, i64 n) {
    act_bwd<Sqrt>(x, dy, dx, n);
}

// ---- gated SiLU (Phi-3 MLP) ---------------------------------------------------------------------------------------

// One output element per step: a row of y is F wide, its gate and up inputs sit F apart in the same gu row, so
// consecutive threads read consecutive gate and up elements (two coalesced streams).
template <typename T>
__device__ __forceinline__ void gated_silu_fwd_impl(const T* gu, T* y, int rows, int F) {
    const size_t n = (size_t)rows * F;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const size_t r = i / F, f = i - r * F;
        const T* row = gu + r * 2 * F;
        st_f32(y + i, ld_f32(row + F + f) * Silu::f(ld_f32(row + f)));
    }
}

template <typename T>
__device__ __forceinline__ void gated_silu_bwd_impl(const T* gu, const T* dy, T* dgu, int rows, int F) {
    const size_t n = (size_t)rows * F;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const size_t r = i / F, f = i - r * F;
        const T* row = gu + r * 2 * F;
        T* drow = dgu + r * 2 * F;
        const float g = ld_f32(row + f), u = ld_f32(row + F + f), d = ld_f32(dy + i);
        st_f32(drow + f, d * u * Silu::df(g));
        st_f32(drow + F + f, d * Silu::f(g));
    }
}

extern "C" __global__ void gated_silu_fwd_f32(const float* gu, float* y, int rows, int F) {
    gated_silu_fwd_impl(gu, y, rows, F);
}
extern "C" __global__ void gated_silu_fwd_bf16(const bf16_t* gu, bf16_t* y, int rows, int F) {
    gated_silu_fwd_impl(gu, y, rows, F);
}
extern "C" __global__ void gated_silu_bwd_f32(const float* gu, const float* dy, float* dgu, int rows, int F) {
    gated_silu_bwd_impl(gu, dy, dgu, rows, F);
}
extern "C" __global__ void gated_silu_bwd_bf16(const bf16_t* gu, const bf16_t* dy, bf16_t* dgu, int rows, int F) {
    gated_silu_bwd_impl(gu, dy, dgu, rows, F);
}
