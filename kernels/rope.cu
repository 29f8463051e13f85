// rope.cu — rotary position embedding with split halves (rotate_half), LongRoPE tables, forward and backward.
//
// defines:  rope_table_f32, rope_table_bf16, rope_fwd_f32, rope_fwd_bf16, rope_bwd_f32, rope_bwd_bf16
// math:     table: for position p = pos0 + t and j ∈ [0, Dh), half = Dh/2:
//                  θ = f32(p · inv_freq[j mod half]);  cos[t,j] = A·cos θ;  sin[t,j] = A·sin θ
//                  (inv_freq[i] = 1 / (factor[i] · base^(2i/Dh)) is computed on the host in f32; A is the LongRoPE
//                  attention factor √(1 + ln(max_pos/original_max)/ln(original_max)), 1 for plain RoPE)
//           apply: rot(x)_j = −x_{j+half} for j < half, x_{j−half} for j ≥ half
//                  y_j = x_j·c_j + rot(x)_j·s_j, c = cos[t,j], s = sin[t,j]   (f32 math, rounded once on store)
//           backward (transpose of the rotation):
//                  dx_j = dy_j·c_j + dy_{j+half}·s_{j+half}  (j < half);  dx_j = dy_j·c_j − dy_{j−half}·s_{j−half}
//                  (j ≥ half)
// shapes:   x, y (B, H, T, Dh): element strides per batch, head and token, last axis contiguous, so q and k can be
//           rotated in place inside a fused qkv buffer (B, T, 3, H, Dh); f32 or bf16. cos, sin (T, Dh), same dtype
//           as x, row t for token t (the caller slices the table at the first position).
// launch:   table: grid ceil_div(T·Dh, 256), block 256.  apply: one thread per (b, h, t, pair j < half):
//           grid ceil_div(B·H·T·half, 256), block 256. In-place (y == x) is allowed: a thread reads both
//           elements of its pair before writing them.
// floor:    memory-bound, B·T·H·Dh·(in + out) bytes + table reads (L2); not yet measured on a device.
// variants: default only
// ref:      src/Med2E3.Native.Ops/Ops/Rope.cs → Rope.Reference, Rope.Tables
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (AttentionConformanceTests, SharedOpCaseTests)    bench: none (memory-bound, off the critical path)

#include "common.cuh"

// Arguments of rope_table_*.
struct RopeTableParams {
    const float* inv_freq;  // (Dh/2) inverse frequencies, f32, factors already applied
    void* cos;              // (T, Dh) output, f32 or bf16
    void* sin;              // (T, Dh) output, f32 or bf16
    int rows;               // T, number of positions written
    int head_dim;           // Dh (even)
    int pos0;               // position of row 0
    float attn_scale;       // A, multiplies cos and sin (LongRoPE attention factor)
};
static_assert(sizeof(RopeTableParams) == 40, "RopeTableParams layout is mirrored in C#");

// Arguments of rope_fwd_* and rope_bwd_*.
struct RopeParams {
    const void* x;          // fwd: x, bwd: dy — (B, H, T, Dh), strides x_*
    void* y;                // fwd: y, bwd: dx — (B, H, T, Dh), strides y_*; may equal x
    const void* cos;        // (T, Dh) table, dtype of x
    const void* sin;        // (T, Dh) table, dtype of x
    int batch;              // B
    int heads;              // H
    int tokens;             // T
    int head_dim;           // Dh (even)
    int x_sb, x_sh, x_st;   // element strides of x: batch, head, token
    int y_sb, y_sh, y_st;   // element strides of y
};
static_assert(sizeof(RopeParams) == 72, "RopeParams layout is mirrored in C#");

// Precise cosf/sinf on purpose: θ reaches hundreds of radians and the fast intrinsics lose accuracy there.
template <typename T>
__device__ __forceinline__ void rope_table_impl(const RopeTableParams& p) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.rows * p.head_dim) return;
    const int t = i / p.head_dim, j = i - t * p.head_dim;
    const float theta = (float)(p.pos0 + t) * p.inv_freq[j % (p.head_dim / 2)];
    st_f32((T*)p.cos + i, p.attn_scale * cosf(theta));
    st_f32((T*)p.sin + i, p.attn_scale * sinf(theta));
}

extern "C" __global__ void rope_table_f32(RopeTableParams p) { rope_table_impl<float>(p); }
extern "C" __global__ void rope_table_bf16(RopeTableParams p) { rope_table_impl<bf16_t>(p); }

template <typename T, bool Backward>
__device__ __forceinline__ void rope_apply(const RopeParams& p) {
    const int half = p.head_dim / 2;
    const size_t n = (size_t)p.batch * p.heads * p.tokens * half;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int j = (int)(i % half);
    const size_t bht = i / half;  // (b·H + h)·T + t
    const int t = (int)(bht % p.tokens);
    const size_t bh = bht / p.tokens;
    const int h = (int)(bh % p.heads), b = (int)(bh / p.heads);
    const T* x = (const T*)p.x + (size_t)b * p.x_sb + (size_t)h * p.x_sh + (size_t)t * p.x_st;
    T* y = (T*)p.y + (size_t)b * p.y_sb + (size_t)h * p.y_sh + (size_t)t * p.y_st;
    const T* cr = (const T*)p.cos + (size_t)t * p.head_dim;
    const T* sr = (const T*)p.sin + (size_t)t * p.head_dim;
    const float c_lo = ld_f32(cr + j), c_hi = ld_f32(cr + j + half);
    const float s_lo = ld_f32(sr + j), s_hi = ld_f32(sr + j + half);
    const float lo = ld_f32(x + j), hi = ld_f32(x + j + half);
    float out_lo, out_hi;
    if (!Backward) {
        out_lo = lo * c_lo - hi * s_lo;
        out_hi = hi * c_hi + lo * s_hi;
    } else {
        out_lo = lo * c_lo + hi * s_hi;
        out_hi = hi * c_hi - lo * s_lo;
    }
    st_f32(y + j, out_lo);
    st_f32(y + j + half, out_hi);
}

extern "C" __global__ void rope_fwd_f32(RopeParams p) { rope_apply<float, false>(p); }
extern "C" __global__ void rope_fwd_bf16(RopeParams p) { rope_apply<bf16_t, false>(p); }
extern "C" __global__ void rope_bwd_f32(RopeParams p) { rope_apply<float, true>(p); }
extern "C" __global__ void rope_bwd_bf16(RopeParams p) { rope_apply<bf16_t, true>(p); }
