// attention.cu — scaled dot-product attention, flash style (online softmax, no T×T matrix in memory).
//
// defines:  attention_fwd_f32, attention_fwd_bf16 (default), attention_fwd_bf16_v2,
//           attention_bwd_delta_f32, attention_bwd_delta_bf16, attention_bwd_dkdv_f32, attention_bwd_dkdv_bf16,
//           attention_bwd_dq_f32, attention_bwd_dq_bf16,
//           attention_decode_f32, attention_decode_bf16, attention_decode_combine_f32, attention_decode_combine_bf16
// math:     per batch b, head h, query i, key j (off = Tk − Tq, so the last query sits on the last key):
//           s[i,j] = scale · q[i]·k[j] + mask[b,j]                      (mask optional, additive, dtype of q)
//           j is excluded when j ≥ Tk, or causal and j > i + off
//           o[i]   = Σ_j softmax_j(s[i,:]) · v[j]                       (excluded j get weight 0)
//           lse[i] = ln Σ_{j kept} exp(s[i,j])                          (saved for the backward; −inf if none kept)
//           a row with no kept key has o = 0. A mask of −inf or the dtype minimum removes a key: the kernel works
//           in base 2 (s·log2 e), where the f32 minimum overflows to −inf — the same zero weight the reference gives.
//           backward: P = exp(s − lse), dP = dO·vᵀ, Δ[i] = Σ_d dO[i,d]·o[i,d], dS = P ⊙ (dP − Δ)
//                     dq = scale · dS·k,  dk = scale · dSᵀ·q,  dv = Pᵀ·dO   (written, not accumulated)
// shapes:   q, o, dO, dq (B, H, Tq, Dh); k, v, dk, dv (B, H, Tk, Dh). Each tensor has its own batch, head and
//           token strides in elements and a contiguous last axis, so q/k/v can be views of a fused qkv buffer
//           (B, T, 3, H, Dh) or of a KV cache (B, H, Tmax, Dh); dO, dq, dk, dv have their own strides too.
//           lse, Δ (B, H, Tq) contiguous f32. dtype f32 or bf16 (q, k, v, o, dO, dq, dk, dv alike); all math f32.
//           Dh ≤ 128 forward and decode, Dh ≤ 96 backward (the model uses 64 and 96; the tiny test model 10–64).
// launch:   fwd            grid (ceil_div(Tq, 32), B·H)  block 128  dynamic smem (32 + 32)·(Dh + 1)·4 + 32·33·4
//                          (4 threads per query row; 32 queries × 32 keys per tile)
//           fwd_bf16_v2    grid (ceil_div(Tq, 64), B·H)  block 128  dynamic smem 3·64·(Dh + 8)·2 (16 rows per warp)
//           bwd_delta      grid ceil_div(B·H·Tq, 8)     block 256  (one warp per query row)
//           bwd_dkdv       grid (ceil_div(Tk, 32), B·H)  block 128  dynamic smem (64 + 32)·(Dh + 1)·4 + 2·32·17·4
//           bwd_dq         grid (ceil_div(Tq, 32), B·H)  block 128  dynamic smem (64 + 32)·(Dh + 1)·4 + 32·17·4
//           decode         grid (B·H, splits)            block 128  static smem; Tq = 1, every split covers
//                          chunk = ceil_div(Tk, splits) ≤ 256 keys; partial (B·H, splits, Dh + 2) f32 scratch
//           decode_combine grid B·H                      block 128
// floor:    prefill is compute-bound: 4·B·H·Tq·Tk·Dh FLOPs (half with causal skipping). This SIMT f32 default
//           issues one shared-memory load per FMA in its inner loops, so it is bounded near 1/4 of the SIMT f32
//           peak, well below the SDPA anchors in PERFORMANCE.md (146–164 TFLOP/s, which need tensor cores);
//           decode is memory-bound: 2·B·H·Tk·Dh·sizeof(T) bytes of KV. Not yet measured on a device.
// variants: default (no suffix): SIMT, f32 accumulation, one code path for every Dh ≤ 128;
//           attention_fwd_bf16_v2 (bf16, Dh ∈ {64, 96}, even strides): tensor cores through inline-PTX mma.sync
//           m16n8k16 and ldmatrix, FlashAttention-2 register layout, P rounded to bf16 before P·V, no cp.async
//           pipelining yet. Status: stretch variant, compiled but never run on a GPU; the backend launches it only
//           when CudaBackend.TensorCoreAttention is set, and Tests.Cuda checks it against the CPU reference.
// ref:      src/Med2E3.Native.Ops/Ops/Attention.cs → Attention.Reference / Attention.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (AttentionConformanceTests, SharedOpCaseTests)    bench: med2e3-bench kernels --op attention

#include "common.cuh"

// Arguments of every attention kernel; each kernel reads the fields its comment names.
struct AttentionParams {
    const void* q;      // (B, H, Tq, Dh) queries, strides q_sb/q_sh/q_st
    const void* k;      // (B, H, Tk, Dh) keys, strides k_*
    const void* v;      // (B, H, Tk, Dh) values, strides v_*
    void* o;            // (B, H, Tq, Dh) output (fwd, decode_combine) / forward output (bwd_delta), strides o_*
    float* lse;         // (B, H, Tq) log-sum-exp of the scaled logits: written by fwd and decode_combine (may be
                        // null there), read by the backward
    const void* mask;   // (B, Tk) additive key mask, dtype of q, or null
    const void* dout;   // bwd: (B, H, Tq, Dh) upstream gradient, strides do_*
    void* dq;           // bwd_dq: query gradient, strides dq_*
    void* dk;           // bwd_dkdv: key gradient, strides dk_*
    void* dv;           // bwd_dkdv: value gradient, strides dv_*
    float* delta;       // bwd: (B, H, Tq) Σ_d dO·o, written by bwd_delta
    float* partial;     // decode: (B·H, splits, Dh + 2) f32 scratch: unnormalised o, then running max, then sum
    int batch;          // B
    int heads;          // H
    int tq;             // Tq, queries per (b, h)
    int tk;             // Tk, keys per (b, h)
    int head_dim;       // Dh
    int causal;         // 1: key j is excluded for query i when j > i + (Tk − Tq)
    float scale;        // logit scale, usually Dh^−½
    int splits;         // decode: number of key chunks per (b, h)
    int q_sb, q_sh, q_st;  // element strides of q: batch, head, token
    int k_sb, k_sh, k_st;  // of k
    int v_sb, v_sh, v_st;  // of v
    int o_sb, o_sh, o_st;  // of o
    int do_sb, do_sh, do_st;  // of dout
    int dq_sb, dq_sh, dq_st;  // of dq
    int dk_sb, dk_sh, dk_st;  // of dk
    int dv_sb, dv_sh, dv_st;  // of dv
};
static_assert(sizeof(AttentionParams) == 224, "AttentionParams layout is mirrored in C#");

#define ATT_THREADS 128  // 4 warps; 4 threads per row of a 32-row tile
#define ATT_BQ 32        // queries per forward / dq tile
#define ATT_BK 32        // keys per forward / dkdv tile
#define ATT_BQB 16       // queries per step of the dkdv loop
#define ATT_BKB 16       // keys per step of the dq loop
#define ATT_DMAX 128     // largest head dim of the forward and decode
#define ATT_DMAX_BWD 96  // largest head dim of the backward (keeps its shared memory under 48 KiB)
#define ATT_DEC_CHUNK 256
#define LOG2E_F 1.4426950408889634f
#define LN2_F 0.6931471805599453f

__device__ __forceinline__ size_t att_off(int b, int h, int t, int sb, int sh, int st) {
    return (size_t)b * sb + (size_t)h * sh + (size_t)t * st;
}

// Copies rows [t0, t0 + n) of one (b, h) slice into shared memory as f32, row pitch ld, times mul; rows past `limit`
// become zeros so the tile arithmetic needs no bounds checks.
template <typename T>
__device__ __forceinline__ void att_load_tile(float* dst, int ld, const T* src, int st, int t0, int n, int limit,
                                              int Dh, float mul) {
    for (int e = threadIdx.x; e < n * Dh; e += blockDim.x) {
        const int rr = e / Dh, d = e - rr * Dh;
        dst[rr * ld + d] = (t0 + rr < limit) ? ld_f32(src + (size_t)(t0 + rr) * st + d) * mul : 0.0f;
    }
}

// ---- forward ------------------------------------------------------------------------------------------------------

// Thread (r, sub) owns query row r of the tile. For scores it computes keys sub, sub+4, …, sub+28 of each key tile;
// for the output it owns columns sub, sub+4, … of the row. The 4 threads of a row are neighbouring lanes, so the row
// max and row sum take two xor-shuffles, and the probabilities pass through shared memory with only __syncwarp.
template <typename T>
__device__ __forceinline__ void attention_fwd_impl(const AttentionParams& p) {
    extern __shared__ float att_smem[];
    const int Dh = p.head_dim, ld = Dh + 1;  // +1: rows r and r+1 start in different banks
    float* Qs = att_smem;                    // [BQ][ld], pre-scaled by scale·log2 e
    float* KVs = Qs + ATT_BQ * ld;           // [BK][ld], holds K, then V, of the current key tile
    float* Ps = KVs + ATT_BK * ld;           // [BQ][BK + 1] probabilities of the tile
    const int bh = blockIdx.y, b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = blockIdx.x * ATT_BQ;
    const int r = threadIdx.x >> 2, sub = threadIdx.x & 3;
    const int qi = q0 + r;
    const int off = p.tk - p.tq;
    const T* qg = (const T*)p.q + att_off(b, h, 0, p.q_sb, p.q_sh, 0);
    const T* kg = (const T*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const T* vg = (const T*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    const T* maskb = p.mask ? (const T*)p.mask + (size_t)b * p.tk : nullptr;

    att_load_tile(Qs, ld, qg, p.q_st, q0, ATT_BQ, p.tq, Dh, p.scale * LOG2E_F);
    // With causal masking no query of this tile sees keys past its last query; those tiles are skipped.
    const int kend = p.causal ? min(p.tk, q0 + ATT_BQ + off) : p.tk;

    constexpr int DC = ATT_DMAX / 4;
    float acc[DC];
#pragma unroll
    for (int i = 0; i < DC; ++i) acc[i] = 0.0f;
    float m = neg_inf(), l = 0.0f;

    for (int k0 = 0; k0 < kend; k0 += ATT_BK) {
        __syncthreads();  // the previous tile's V is no longer read
        att_load_tile(KVs, ld, kg, p.k_st, k0, ATT_BK, p.tk, Dh, 1.0f);
        __syncthreads();
        float s[ATT_BK / 4];
#pragma unroll
        for (int jj = 0; jj < ATT_BK / 4; ++jj) s[jj] = 0.0f;
        for (int d = 0; d < Dh; ++d) {
            const float qv = Qs[r * ld + d];
#pragma unroll
            for (int jj = 0; jj < ATT_BK / 4; ++jj) s[jj] += qv * KVs[(sub + 4 * jj) * ld + d];
        }
        float mt = neg_inf();
#pragma unroll
        for (int jj = 0; jj < ATT_BK / 4; ++jj) {
            const int key = k0 + sub + 4 * jj;
            const bool keep = key < p.tk && (!p.causal || key <= qi + off);
            s[jj] = keep ? s[jj] + (maskb ? ld_f32(maskb + key) * LOG2E_F : 0.0f) : neg_inf();
            mt = fmaxf(mt, s[jj]);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
        const float mn = fmaxf(m, mt);
        // Until a row has seen a kept key, mn is −inf: keep everything at zero instead of computing inf − inf.
        const float alpha = mn == neg_inf() ? 1.0f : exp2f(m - mn);
        float ps = 0.0f;
#pragma unroll
        for (int jj = 0; jj < ATT_BK / 4; ++jj) {
            const float pj = mn == neg_inf() ? 0.0f : exp2f(s[jj] - mn);
            Ps[r * (ATT_BK + 1) + sub + 4 * jj] = pj;
            ps += pj;
        }
        ps += __shfl_xor_sync(0xffffffffu, ps, 1);
        ps += __shfl_xor_sync(0xffffffffu, ps, 2);
        l = l * alpha + ps;
        m = mn;
#pragma unroll
        for (int i = 0; i < DC; ++i) acc[i] *= alpha;
        __syncthreads();  // every thread is done with K; Ps is complete
        att_load_tile(KVs, ld, vg, p.v_st, k0, ATT_BK, p.tk, Dh, 1.0f);
        __syncthreads();
        for (int kk = 0; kk < ATT_BK; ++kk) {
            const float pk = Ps[r * (ATT_BK + 1) + kk];
#pragma unroll
            for (int i = 0; i < DC; ++i) {
                const int d = sub + 4 * i;
                if (d < Dh) acc[i] += pk * KVs[kk * ld + d];
            }
        }
    }
    if (qi >= p.tq) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* og = (T*)p.o + att_off(b, h, qi, p.o_sb, p.o_sh, p.o_st);
#pragma unroll
    for (int i = 0; i < DC; ++i) {
        const int d = sub + 4 * i;
        if (d < Dh) st_f32(og + d, acc[i] * inv);
    }
    if (p.lse && sub == 0) p.lse[(size_t)bh * p.tq + qi] = l > 0.0f ? (m + log2f(l)) * LN2_F : neg_inf();
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_fwd_f32(AttentionParams p) {
    attention_fwd_impl<float>(p);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_fwd_bf16(AttentionParams p) {
    attention_fwd_impl<bf16_t>(p);
}

// ---- forward, bf16 tensor cores (v2) ----------------------------------------------------------------------------

#define ATT2_BQ 64   // queries per block, 16 per warp
#define ATT2_BK 64   // keys per tile
#define ATT2_PAD 8   // bf16 of padding per shared row: rows stay 16-byte aligned for ldmatrix and start in other banks

__device__ __forceinline__ u32 smem_u32(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// Four 8×8 bf16 matrices from shared memory; lane i names row i % 8 of matrix i / 8. Each lane receives, per
// matrix, the pair (row lane / 4, columns 2·(lane % 4), +1) — or with .trans the pair (rows 2·(lane % 4), +1,
// column lane / 4).
#ifdef __MED2E3_EMU__
// The emulated device (native/emulator) executes the same three instructions on its model of the warp-wide
// fragment layouts of the PTX ISA.
__device__ __forceinline__ void ldsm_x4(u32 (&r)[4], const bf16_t* p) { ::emu::ldmatrix_x4(r, p, false); }
__device__ __forceinline__ void ldsm_x4_trans(u32 (&r)[4], const bf16_t* p) { ::emu::ldmatrix_x4(r, p, true); }
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
    ::emu::mma_m16n8k16_bf16_f32(d, a, b0, b1);
}
#else
__device__ __forceinline__ void ldsm_x4(u32 (&r)[4], const bf16_t* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(u32 (&r)[4], const bf16_t* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}

// d (16×8 f32) += a (16×16 bf16, row-major fragment) · b (16×8 bf16, column fragment b0 = k 0..7, b1 = k 8..15).
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

// Rows [t0, t0 + 64) of one (b, h) slice into shared memory, two bf16 per 4-byte load; rows past `limit` are zero.
template <int DH>
__device__ __forceinline__ void att2_load(bf16_t* dst, const bf16_t* src, int st, int t0, int limit) {
    constexpr int PAIRS = DH / 2, LD = DH + ATT2_PAD;
    for (int e = threadIdx.x; e < ATT2_BQ * PAIRS; e += blockDim.x) {
        const int r = e / PAIRS, c = (e - r * PAIRS) * 2;
        const u32 v = t0 + r < limit ? *(const u32*)(src + (size_t)(t0 + r) * st + c) : 0u;
        *(u32*)(dst + r * LD + c) = v;
    }
}

// FlashAttention-2 structure on mma.sync: warp w owns query rows 16w..16w+15 of the block's 64; Q stays in
// registers as A fragments, S = Q·Kᵀ for 64 keys is 8 accumulator tiles, the online softmax runs on those
// registers (a row lives in the 4 lanes of a quad), and P goes straight from the S accumulators into the A
// fragments of O += P·V (the accumulator layout of two neighbouring 8-key tiles is the A layout of one 16-key step).
// Lane (g = lane / 4, t = lane % 4) holds rows g and g + 8, columns 2t and 2t + 1 of every 8-column tile.
template <int DH>
__device__ __forceinline__ void attention_fwd_mma(const AttentionParams& p) {
    extern __shared__ __align__(16) bf16_t att2_smem[];
    constexpr int LD = DH + ATT2_PAD, KSTEPS = DH / 16, NT_O = DH / 8, NT_S = ATT2_BK / 8;
    bf16_t* Qs = att2_smem;
    bf16_t* Ks = Qs + ATT2_BQ * LD;
    bf16_t* Vs = Ks + ATT2_BK * LD;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int bh = blockIdx.y, b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = blockIdx.x * ATT2_BQ;
    const int off = p.tk - p.tq;
    const bf16_t* kg = (const bf16_t*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const bf16_t* vg = (const bf16_t*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    const bf16_t* maskb = p.mask ? (const bf16_t*)p.mask + (size_t)b * p.tk : nullptr;
    const float scale2 = p.scale * LOG2E_F;
    const int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};

    att2_load<DH>(Qs, (const bf16_t*)p.q + att_off(b, h, 0, p.q_sb, p.q_sh, 0), p.q_st, q0, p.tq);
    __syncthreads();
    u32 qf[KSTEPS][4];
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks)
        ldsm_x4(qf[ks], Qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + ks * 16 + (lane >> 4) * 8);

    float o[NT_O][4];
#pragma unroll
    for (int n = 0; n < NT_O; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};
    const int kend = p.causal ? min(p.tk, q0 + ATT2_BQ + off) : p.tk;

    for (int k0 = 0; k0 < kend; k0 += ATT2_BK) {
        __syncthreads();  // every warp is done with the previous K and V
        att2_load<DH>(Ks, kg, p.k_st, k0, p.tk);
        att2_load<DH>(Vs, vg, p.v_st, k0, p.tk);
        __syncthreads();

        float s[NT_S][4];
#pragma unroll
        for (int n = 0; n < NT_S; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
        for (int n2 = 0; n2 < NT_S / 2; ++n2) {
#pragma unroll
            for (int ks = 0; ks < KSTEPS; ++ks) {
                // Matrices (keys +0/+8) × (head dim +0/+8): b0, b1 of key tile 2·n2, then of tile 2·n2 + 1.
                u32 kf[4];
                ldsm_x4(kf, Ks + (n2 * 16 + (lane & 7) + (lane >> 4) * 8) * LD + ks * 16 + ((lane >> 3) & 1) * 8);
                mma_bf16_16816(s[2 * n2], qf[ks], kf[0], kf[1]);
                mma_bf16_16816(s[2 * n2 + 1], qf[ks], kf[2], kf[3]);
            }
        }

        // Scale, mask and the online softmax update of this lane's two rows.
        float mt[2] = {neg_inf(), neg_inf()};
#pragma unroll
        for (int n = 0; n < NT_S; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int key = k0 + n * 8 + 2 * t + (e & 1);
                const bool keep = key < p.tk && (!p.causal || key <= rows[e >> 1] + off);
                s[n][e] = keep ? s[n][e] * scale2 + (maskb ? ld_f32(maskb + key) * LOG2E_F : 0.0f) : neg_inf();
                mt[e >> 1] = fmaxf(mt[e >> 1], s[n][e]);
            }
        }
        float alpha[2], ps[2] = {0.0f, 0.0f};
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 1));
            mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 2));
            const float mn = fmaxf(m[r], mt[r]);
            alpha[r] = mn == neg_inf() ? 1.0f : exp2f(m[r] - mn);
            m[r] = mn;
        }
#pragma unroll
        for (int n = 0; n < NT_S; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float pe = m[e >> 1] == neg_inf() ? 0.0f : exp2f(s[n][e] - m[e >> 1]);
                s[n][e] = pe;
                ps[e >> 1] += pe;
            }
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            ps[r] += __shfl_xor_sync(0xffffffffu, ps[r], 1);
            ps[r] += __shfl_xor_sync(0xffffffffu, ps[r], 2);
            l[r] = l[r] * alpha[r] + ps[r];
        }
#pragma unroll
        for (int n = 0; n < NT_O; ++n) {
            o[n][0] *= alpha[0];
            o[n][1] *= alpha[0];
            o[n][2] *= alpha[1];
            o[n][3] *= alpha[1];
        }

        // O += P·V, 16 keys per step; P is rounded to bf16 for the tensor cores (FlashAttention does the same).
#pragma unroll
        for (int ks = 0; ks < ATT2_BK / 16; ++ks) {
            const u32 pa[4] = {pack_bf16(s[2 * ks][0], s[2 * ks][1]), pack_bf16(s[2 * ks][2], s[2 * ks][3]),
                               pack_bf16(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                               pack_bf16(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
            for (int n2 = 0; n2 < NT_O / 2; ++n2) {
                // Transposed matrices (keys +0/+8) × (head dim +0/+8): b0, b1 of column tile 2·n2, then 2·n2 + 1.
                u32 vf[4];
                ldsm_x4_trans(vf, Vs + (ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + n2 * 16 + (lane >> 4) * 8);
                mma_bf16_16816(o[2 * n2], pa, vf[0], vf[1]);
                mma_bf16_16816(o[2 * n2 + 1], pa, vf[2], vf[3]);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (rows[r] >= p.tq) continue;
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        bf16_t* og = (bf16_t*)p.o + att_off(b, h, rows[r], p.o_sb, p.o_sh, p.o_st);
#pragma unroll
        for (int n = 0; n < NT_O; ++n)
            *(u32*)(og + n * 8 + 2 * t) = pack_bf16(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
        if (p.lse && t == 0)
            p.lse[(size_t)bh * p.tq + rows[r]] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * LN2_F : neg_inf();
    }
}

// Head dims 64 and 96 (the model's); the launcher takes the SIMT kernel for anything else.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_fwd_bf16_v2(AttentionParams p) {
    if (p.head_dim == 64) attention_fwd_mma<64>(p);
    else attention_fwd_mma<96>(p);
}

// ---- backward -----------------------------------------------------------------------------------------------------

// Δ[i] = Σ_d dO[i,d]·o[i,d], one warp per query row.
template <typename T>
__device__ __forceinline__ void attention_bwd_delta_impl(const AttentionParams& p) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= p.batch * p.heads * p.tq) return;
    const int i = row % p.tq, bh = row / p.tq, b = bh / p.heads, h = bh - b * p.heads;
    const T* og = (const T*)p.o + att_off(b, h, i, p.o_sb, p.o_sh, p.o_st);
    const T* dg = (const T*)p.dout + att_off(b, h, i, p.do_sb, p.do_sh, p.do_st);
    float s = 0.0f;
    for (int d = lane; d < p.head_dim; d += 32) s += ld_f32(og + d) * ld_f32(dg + d);
    s = warp_sum(s);
    if (lane == 0) p.delta[row] = s;
}

extern "C" __global__ void attention_bwd_delta_f32(AttentionParams p) { attention_bwd_delta_impl<float>(p); }
extern "C" __global__ void attention_bwd_delta_bf16(AttentionParams p) { attention_bwd_delta_impl<bf16_t>(p); }

// Recomputes one probability and its dS entry: P = exp(s − lse), dS = P·(dP − Δ). Logits in base 2 as in the forward.
__device__ __forceinline__ void att_p_ds(float qk, float dp, float lse, float delta, bool keep, float maskv,
                                         float scale2, float& P, float& dS) {
    const float s = qk * scale2 + maskv * LOG2E_F;
    // lse = −inf only for a row without kept keys, where keep is already false for every key.
    P = (keep && s != neg_inf() && lse != neg_inf()) ? exp2f(s - lse * LOG2E_F) : 0.0f;
    dS = P * (dp - delta);
}

// dk and dv for a tile of 32 keys. Thread (kr, sub) owns key row kr: queries sub, sub+4, sub+8, sub+12 of each
// 16-query step for the scores, columns sub, sub+4, … for the accumulators. Deterministic: no atomics.
template <typename T>
__device__ __forceinline__ void attention_bwd_dkdv_impl(const AttentionParams& p) {
    extern __shared__ float att_smem[];
    const int Dh = p.head_dim, ld = Dh + 1;
    float* Ks = att_smem;               // [BK][ld]
    float* Vs = Ks + ATT_BK * ld;       // [BK][ld]
    float* Qs = Vs + ATT_BK * ld;       // [BQB][ld]
    float* dOs = Qs + ATT_BQB * ld;     // [BQB][ld]
    float* Ps = dOs + ATT_BQB * ld;     // [BK][BQB + 1]  P transposed: key row, query column
    float* dSs = Ps + ATT_BK * (ATT_BQB + 1);
    __shared__ float lse_s[ATT_BQB], delta_s[ATT_BQB];
    const int bh = blockIdx.y, b = bh / p.heads, h = bh - b * p.heads;
    const int k0 = blockIdx.x * ATT_BK;
    const int kr = threadIdx.x >> 2, sub = threadIdx.x & 3;
    const int key = k0 + kr;
    const int off = p.tk - p.tq;
    const T* qg = (const T*)p.q + att_off(b, h, 0, p.q_sb, p.q_sh, 0);
    const T* dog = (const T*)p.dout + att_off(b, h, 0, p.do_sb, p.do_sh, 0);
    const float maskv = (p.mask && key < p.tk) ? ld_f32((const T*)p.mask + (size_t)b * p.tk + key) : 0.0f;
    const float scale2 = p.scale * LOG2E_F;

    att_load_tile(Ks, ld, (const T*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0), p.k_st, k0, ATT_BK, p.tk, Dh, 1.0f);
    att_load_tile(Vs, ld, (const T*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0), p.v_st, k0, ATT_BK, p.tk, Dh, 1.0f);

    constexpr int DC = ATT_DMAX_BWD / 4;
    float dk[DC], dv[DC];
#pragma unroll
    for (int i = 0; i < DC; ++i) dk[i] = dv[i] = 0.0f;
    // The first query that can see key k0 under the causal mask is k0 − off.
    const int qstart = p.causal ? max(0, k0 - off) / ATT_BQB * ATT_BQB : 0;
    for (int q0 = qstart; q0 < p.tq; q0 += ATT_BQB) {
        __syncthreads();  // previous step's Qs/dOs/Ps/dSs are no longer read
        att_load_tile(Qs, ld, qg, p.q_st, q0, ATT_BQB, p.tq, Dh, 1.0f);
        att_load_tile(dOs, ld, dog, p.do_st, q0, ATT_BQB, p.tq, Dh, 1.0f);
        if (threadIdx.x < ATT_BQB) {
            const int qi = q0 + threadIdx.x;
            lse_s[threadIdx.x] = qi < p.tq ? p.lse[(size_t)bh * p.tq + qi] : 0.0f;
            delta_s[threadIdx.x] = qi < p.tq ? p.delta[(size_t)bh * p.tq + qi] : 0.0f;
        }
        __syncthreads();
        float qk[ATT_BQB / 4], dp[ATT_BQB / 4];
#pragma unroll
        for (int jj = 0; jj < ATT_BQB / 4; ++jj) qk[jj] = dp[jj] = 0.0f;
        for (int d = 0; d < Dh; ++d) {
            const float kv = Ks[kr * ld + d], vv = Vs[kr * ld + d];
#pragma unroll
            for (int jj = 0; jj < ATT_BQB / 4; ++jj) {
                qk[jj] += Qs[(sub + 4 * jj) * ld + d] * kv;
                dp[jj] += dOs[(sub + 4 * jj) * ld + d] * vv;
            }
        }
#pragma unroll
        for (int jj = 0; jj < ATT_BQB / 4; ++jj) {
            const int qq = sub + 4 * jj, qi = q0 + qq;
            const bool keep = qi < p.tq && key < p.tk && (!p.causal || key <= qi + off);
            float P, dS;
            att_p_ds(qk[jj], dp[jj], lse_s[qq], delta_s[qq], keep, maskv, scale2, P, dS);
            Ps[kr * (ATT_BQB + 1) + qq] = P;
            dSs[kr * (ATT_BQB + 1) + qq] = dS;
        }
        __syncwarp();  // a key row's 4 threads are neighbouring lanes of one warp
        for (int qq = 0; qq < ATT_BQB; ++qq) {
            const float P = Ps[kr * (ATT_BQB + 1) + qq], dS = dSs[kr * (ATT_BQB + 1) + qq];
#pragma unroll
            for (int i = 0; i < DC; ++i) {
                const int d = sub + 4 * i;
                if (d < Dh) {
                    dv[i] += P * dOs[qq * ld + d];
                    dk[i] += dS * Qs[qq * ld + d];
                }
            }
        }
    }
    if (key >= p.tk) return;
    T* dkg = (T*)p.dk + att_off(b, h, key, p.dk_sb, p.dk_sh, p.dk_st);
    T* dvg = (T*)p.dv + att_off(b, h, key, p.dv_sb, p.dv_sh, p.dv_st);
#pragma unroll
    for (int i = 0; i < DC; ++i) {
        const int d = sub + 4 * i;
        if (d < Dh) {
            st_f32(dkg + d, dk[i] * p.scale);
            st_f32(dvg + d, dv[i]);
        }
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_bwd_dkdv_f32(AttentionParams p) {
    attention_bwd_dkdv_impl<float>(p);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_bwd_dkdv_bf16(AttentionParams p) {
    attention_bwd_dkdv_impl<bf16_t>(p);
}

// dq for a tile of 32 queries, looping over keys 16 at a time. Thread (r, sub) owns query row r.
template <typename T>
__device__ __forceinline__ void attention_bwd_dq_impl(const AttentionParams& p) {
    extern __shared__ float att_smem[];
    const int Dh = p.head_dim, ld = Dh + 1;
    float* Qs = att_smem;               // [BQ][ld]
    float* dOs = Qs + ATT_BQ * ld;      // [BQ][ld]
    float* Ks = dOs + ATT_BQ * ld;      // [BKB][ld]
    float* Vs = Ks + ATT_BKB * ld;      // [BKB][ld]
    float* dSs = Vs + ATT_BKB * ld;     // [BQ][BKB + 1]
    const int bh = blockIdx.y, b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = blockIdx.x * ATT_BQ;
    const int r = threadIdx.x >> 2, sub = threadIdx.x & 3;
    const int qi = q0 + r;
    const int off = p.tk - p.tq;
    const T* kg = (const T*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const T* vg = (const T*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    const T* maskb = p.mask ? (const T*)p.mask + (size_t)b * p.tk : nullptr;
    const float scale2 = p.scale * LOG2E_F;

    att_load_tile(Qs, ld, (const T*)p.q + att_off(b, h, 0, p.q_sb, p.q_sh, 0), p.q_st, q0, ATT_BQ, p.tq, Dh, 1.0f);
    att_load_tile(dOs, ld, (const T*)p.dout + att_off(b, h, 0, p.do_sb, p.do_sh, 0), p.do_st, q0, ATT_BQ, p.tq, Dh,
                  1.0f);
    const float lse = qi < p.tq ? p.lse[(size_t)bh * p.tq + qi] : 0.0f;
    const float delta = qi < p.tq ? p.delta[(size_t)bh * p.tq + qi] : 0.0f;
    const int kend = p.causal ? min(p.tk, q0 + ATT_BQ + off) : p.tk;

    constexpr int DC = ATT_DMAX_BWD / 4;
    float dq[DC];
#pragma unroll
    for (int i = 0; i < DC; ++i) dq[i] = 0.0f;
    for (int k0 = 0; k0 < kend; k0 += ATT_BKB) {
        __syncthreads();
        att_load_tile(Ks, ld, kg, p.k_st, k0, ATT_BKB, p.tk, Dh, 1.0f);
        att_load_tile(Vs, ld, vg, p.v_st, k0, ATT_BKB, p.tk, Dh, 1.0f);
        __syncthreads();
        float qk[ATT_BKB / 4], dp[ATT_BKB / 4];
#pragma unroll
        for (int jj = 0; jj < ATT_BKB / 4; ++jj) qk[jj] = dp[jj] = 0.0f;
        for (int d = 0; d < Dh; ++d) {
            const float qv = Qs[r * ld + d], gv = dOs[r * ld + d];
#pragma unroll
            for (int jj = 0; jj < ATT_BKB / 4; ++jj) {
                qk[jj] += qv * Ks[(sub + 4 * jj) * ld + d];
                dp[jj] += gv * Vs[(sub + 4 * jj) * ld + d];
            }
        }
#pragma unroll
        for (int jj = 0; jj < ATT_BKB / 4; ++jj) {
            const int kk = sub + 4 * jj, key = k0 + kk;
            const bool keep = qi < p.tq && key < p.tk && (!p.causal || key <= qi + off);
            float P, dS;
            att_p_ds(qk[jj], dp[jj], lse, delta, keep, (maskb && key < p.tk) ? ld_f32(maskb + key) : 0.0f, scale2,
                P, dS);
            dSs[r * (ATT_BKB + 1) + kk] = dS;
        }
        __syncwarp();
        for (int kk = 0; kk < ATT_BKB; ++kk) {
            const float dS = dSs[r * (ATT_BKB + 1) + kk];
#pragma unroll
            for (int i = 0; i < DC; ++i) {
                const int d = sub + 4 * i;
                if (d < Dh) dq[i] += dS * Ks[kk * ld + d];
            }
        }
    }
    if (qi >= p.tq) return;
    T* dqg = (T*)p.dq + att_off(b, h, qi, p.dq_sb, p.dq_sh, p.dq_st);
#pragma unroll
    for (int i = 0; i < DC; ++i) {
        const int d = sub + 4 * i;
        if (d < Dh) st_f32(dqg + d, dq[i] * p.scale);
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_bwd_dq_f32(AttentionParams p) {
    attention_bwd_dq_impl<float>(p);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_bwd_dq_bf16(AttentionParams p) {
    attention_bwd_dq_impl<bf16_t>(p);
}

// ---- single-token decode against a KV cache -------------------------------------------------------------------------

// One block per (b·H + h, split). Split s covers keys [s·chunk, min(Tk, (s+1)·chunk)). Scores: one warp per key, lanes
// across the head dim (coalesced key rows). Output: warp w accumulates keys w, w+4, … with lanes across the head dim
// (coalesced value rows), then the 4 warps are summed through shared memory. The partial state (o unnormalised,
// max, sum, base 2) goes to scratch for decode_combine.
template <typename T>
__device__ __forceinline__ void attention_decode_impl(const AttentionParams& p) {
    __shared__ float qs[ATT_DMAX];
    __shared__ float sc[ATT_DEC_CHUNK];
    __shared__ float red[ATT_THREADS / 32][ATT_DMAX];
    __shared__ float scratch[32];
    const int bh = blockIdx.x, b = bh / p.heads, h = bh - b * p.heads;
    const int Dh = p.head_dim;
    const int chunk = (p.tk + p.splits - 1) / p.splits;
    const int j0 = blockIdx.y * chunk;
    const int n = max(0, min(p.tk, j0 + chunk) - j0);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T* qg = (const T*)p.q + att_off(b, h, p.tq - 1, p.q_sb, p.q_sh, p.q_st);
    const T* kg = (const T*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const T* vg = (const T*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) qs[d] = ld_f32(qg + d) * p.scale * LOG2E_F;
    __syncthreads();
    for (int kk = warp; kk < n; kk += ATT_THREADS / 32) {
        const T* kr = kg + (size_t)(j0 + kk) * p.k_st;
        float s = 0.0f;
        for (int d = lane; d < Dh; d += 32) s += qs[d] * ld_f32(kr + d);
        s = warp_sum(s);
        if (lane == 0) sc[kk] = s + (p.mask ? ld_f32((const T*)p.mask + (size_t)b * p.tk + j0 + kk) * LOG2E_F : 0.0f);
    }
    __syncthreads();
    float m = neg_inf();
    for (int kk = threadIdx.x; kk < n; kk += blockDim.x) m = fmaxf(m, sc[kk]);
    m = block_max(m, scratch);
    float l = 0.0f;
    for (int kk = threadIdx.x; kk < n; kk += blockDim.x) {
        const float e = m == neg_inf() ? 0.0f : exp2f(sc[kk] - m);
        sc[kk] = e;
        l += e;
    }
    l = block_sum(l, scratch);  // its barriers also publish the exponentials in sc
    float acc[ATT_DMAX / 32];
#pragma unroll
    for (int i = 0; i < ATT_DMAX / 32; ++i) acc[i] = 0.0f;
    for (int kk = warp; kk < n; kk += ATT_THREADS / 32) {
        const float pk = sc[kk];
        const T* vr = vg + (size_t)(j0 + kk) * p.v_st;
#pragma unroll
        for (int i = 0; i < ATT_DMAX / 32; ++i) {
            const int d = lane + 32 * i;
            if (d < Dh) acc[i] += pk * ld_f32(vr + d);
        }
    }
#pragma unroll
    for (int i = 0; i < ATT_DMAX / 32; ++i) {
        const int d = lane + 32 * i;
        if (d < Dh) red[warp][d] = acc[i];
    }
    __syncthreads();
    float* part = p.partial + ((size_t)bh * p.splits + blockIdx.y) * (Dh + 2);
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < ATT_THREADS / 32; ++w) s += red[w][d];
        part[d] = s;
    }
    if (threadIdx.x == 0) {
        part[Dh] = m;
        part[Dh + 1] = l;
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_decode_f32(AttentionParams p) {
    attention_decode_impl<float>(p);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_decode_bf16(AttentionParams p) {
    attention_decode_impl<bf16_t>(p);
}

// Merges the splits of one (b, h): o = Σ_s o_s·2^(m_s − M) / Σ_s l_s·2^(m_s − M), M = max_s m_s.
template <typename T>
__device__ __forceinline__ void attention_decode_combine_impl(const AttentionParams& p) {
    const int bh = blockIdx.x, b = bh / p.heads, h = bh - b * p.heads;
    const int Dh = p.head_dim;
    const float* part = p.partial + (size_t)bh * p.splits * (Dh + 2);
    float M = neg_inf();
    for (int s = 0; s < p.splits; ++s) M = fmaxf(M, part[s * (Dh + 2) + Dh]);
    float L = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
        const float ms = part[s * (Dh + 2) + Dh];
        if (ms != neg_inf()) L += part[s * (Dh + 2) + Dh + 1] * exp2f(ms - M);
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    T* og = (T*)p.o + att_off(b, h, p.tq - 1, p.o_sb, p.o_sh, p.o_st);
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < p.splits; ++s) {
            const float ms = part[s * (Dh + 2) + Dh];
            if (ms != neg_inf()) o += part[s * (Dh + 2) + d] * exp2f(ms - M);
        }
        st_f32(og + d, o * inv);
    }
    if (p.lse && threadIdx.x == 0)
        p.lse[(size_t)bh * p.tq + p.tq - 1] = L > 0.0f ? (M + log2f(L)) * LN2_F : neg_inf();
}

extern "C" __global__ void attention_decode_combine_f32(AttentionParams p) { attention_decode_combine_impl<float>(p); }
extern "C" __global__ void attention_decode_combine_bf16(AttentionParams p) {
    attention_decode_combine_impl<bf16_t>(p);
}
