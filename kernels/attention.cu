// attention.cu — scaled dot-product attention, flash style (online softmax, no T×T matrix in memory).
//
// defines:  attention_fwd_f32, attention_fwd_bf16 (default), attention_fwd_bf16_v2, attention_fwd_bf16_v3,
//           attention_fwd_bf16_v4,
//           attention_bwd_delta_f32, attention_bwd_delta_bf16, attention_bwd_dkdv_f32, attention_bwd_dkdv_bf16,
//           attention_bwd_dq_f32, attention_bwd_dq_bf16,
//           attention_decode_f32, attention_decode_bf16, attention_decode_bf16_v2, attention_decode_combine_f32,
//           attention_decode_combine_bf16
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
//           fwd_bf16_v3    grid (ceil_div(Tq, 64), B·H)  block 128  dynamic smem 2·2·64·(Dh + 8)·2 = 36,864 B at
//                          Dh 64, 53,248 B at Dh 96 (above 48 KiB: the launcher raises the limit); 16 rows per warp
//           fwd_bf16_v4    grid (ceil_div(Tq, 128), B·H) block 128  dynamic smem 36,864 B (Dh 64); 32 rows per warp
//           bwd_delta      grid ceil_div(B·H·Tq, 8)     block 256  (one warp per query row)
//           bwd_dkdv       grid (ceil_div(Tk, 32), B·H)  block 128  dynamic smem (64 + 32)·(Dh + 1)·4 + 2·32·17·4
//           bwd_dq         grid (ceil_div(Tq, 32), B·H)  block 128  dynamic smem (64 + 32)·(Dh + 1)·4 + 32·17·4
//           decode         grid (B·H, splits)            block 128  static smem; Tq = 1, every split covers
//                          chunk = ceil_div(Tk, splits) ≤ 256 keys; partial (B·H, splits, Dh + 2) f32 scratch
//           decode_combine grid B·H                      block 128
//           decode_bf16_v2 grid (B·H, splits)            block 128  static smem; chunk = ceil_div(Tk, splits), any
//                          size (the launcher picks whole 64-key steps, ~4 blocks per SM); partial as decode, and
//                          tickets (B·H) int, zero between launches; no combine launch
// floor:    prefill is compute-bound: 4·B·H·Tq·Tk·Dh FLOPs (half with causal skipping). This SIMT f32 default
//           issues one shared-memory load per FMA in its inner loops, so it is bounded near 1/4 of the SIMT f32
//           peak, well below the SDPA anchors in PERFORMANCE.md (146–164 TFLOP/s, which need tensor cores).
//           Each v3 warp reads a whole K and V tile (2·64·Dh·2 bytes) per 4·16·64·Dh FLOPs: 16 FLOP per shared
//           byte, so ldmatrix (128 B/clk/SM) caps it near 2048 FLOP/clk/SM, under what mma.sync issues on sm_90;
//           v4 reuses each fragment for two m-tiles (32 FLOP/B) and is bound by mma issue and the softmax (one EX2
//           per score: 16/clk/SM against 4·Dh FLOPs per score). Estimates, not measurements: v4 at 1×12×2049×64
//           ≈ 55–90 µs on an H100 (204 blocks on 132 SMs × 2: 77 % of a wave), 32×16×256×64 ≈ 30–50 µs; v3 at
//           1×32×600×96 causal ≈ 12–25 µs (320 blocks, triangular work). decode is memory-bound:
//           2·B·H·Tk·Dh·sizeof(T) bytes of KV (9.4 MB for Phi-3 at Tk = 768: 2.8 µs at 3.35 TB/s, 2.0 µs at
//           4.8 TB/s); at that size decode_bf16_v2 is latency-bound (one load round trip, the merges, the ticket),
//           estimated 5–8 µs per launch. Not yet measured on a device: med2e3-bench attention-kernels.
// variants: default (no suffix): SIMT, f32 accumulation, one code path for every Dh ≤ 128;
//           attention_fwd_bf16_v2 (bf16, Dh ∈ {64, 96}, even strides): tensor cores through inline-PTX mma.sync
//           m16n8k16 and ldmatrix, FlashAttention-2 register layout, P rounded to bf16 before P·V, no cp.async
//           pipelining. Status: stretch variant, never run on a GPU.
//           attention_fwd_bf16_v3 (bf16, Dh ∈ {64, 96}, 16-byte aligned rows, scale > 0): v2 plus K/V tiles
//           double-buffered through cp.async (one barrier per tile), Q staged through the second buffer into
//           registers, masking only on the last key tile, the causal diagonal and key-masked tiles, per-warp
//           causal tile skipping, the FFMA + EX2 softmax, row sums reduced once at the end. Status: never run on a
//           GPU; the backend's choice for Dh 96 (Phi-3 prefill) when CudaBackend.TensorCoreAttention is set.
//           attention_fwd_bf16_v4 (Dh 64): v3 with 32 rows per warp, 128 per block. Status: never run on a GPU;
//           the backend's choice for Dh 64 (3D ViT, SigLIP) when CudaBackend.TensorCoreAttention is set.
//           attention_decode_bf16_v2 (bf16, Dh ∈ {64, 96}, 16-byte aligned K/V rows): quads of lanes per key,
//           16-byte loads, one streaming pass with an online softmax, the splits merged by the last block.
//           Status: never run on a GPU; launched when CudaBackend.StreamingDecodeAttention is set.
//           Tests.Cuda checks every variant against the CPU reference on the emulated device.
// ref:      src/Med2E3.Native.Ops/Ops/Attention.cs → Attention.Reference / Attention.BackwardReference
// verify:   dotnet run -c Release --project tests/Med2E3.Native.Tests.Cuda -- -namespace Med2E3.Native.Tests.Cuda.Ops
//           (AttentionConformanceTests, AttentionVariantTests, SharedOpCaseTests)
//           bench: med2e3-bench attention-kernels [--quick]

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
    int* tickets;       // decode_bf16_v2: (B·H) counters of finished splits, zero before the launch and after it
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
static_assert(sizeof(AttentionParams) == 232, "AttentionParams layout is mirrored in C#");

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

// ---- forward, bf16 tensor cores with a cp.async pipeline (v3: 16 query rows per warp, v4: 32) ----------------------

#define ATT3_BK 64   // keys per tile
#define ATT3_PAD 8   // bf16 of padding per shared row, as in v2

// 16 bytes global → shared without passing through registers or L1 (cp.async.cg). full = false reads nothing and
// fills the 16 bytes with zeros (src-size 0), which is how rows past the end of a tensor become zeros.
#ifdef __MED2E3_EMU__
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool full) {
    ::emu::cp_async(dst, src, 16, full ? 16 : 0);
}
__device__ __forceinline__ void cp_async_commit() { ::emu::cp_async_commit(); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { ::emu::cp_async_wait(N); }
#else
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool full) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
                 :: "r"(smem_u32(dst)), "l"(src), "r"(full ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }
#endif

// Queues rows [t0, t0 + ROWS) of one (b, h) slice into shared memory (row pitch DH + 8) as 16-byte cp.async copies,
// ROWS·DH/8 of them spread over the block; rows at or past `limit` are zero-filled from row 0 (a valid address,
// never read).
template <int DH, int ROWS>
__device__ __forceinline__ void att3_load(bf16_t* dst, const bf16_t* src, int st, int t0, int limit) {
    constexpr int CH = DH / 8, LD = DH + ATT3_PAD;
    static_assert(ROWS * CH % ATT_THREADS == 0, "every thread queues the same number of copies");
#pragma unroll
    for (int i = 0; i < ROWS * CH / ATT_THREADS; ++i) {
        const int e = threadIdx.x + i * ATT_THREADS, r = e / CH, c = (e - r * CH) * 8;
        const bool in = t0 + r < limit;
        cp_async16(dst + r * LD + c, src + (size_t)(in ? t0 + r : 0) * st + c, in);
    }
}

// One 64-key tile for one warp: S = Q·Kᵀ for its 16·MT rows, the online softmax on those registers, O += P·V.
// Each K and V fragment read from shared memory feeds MT mma per load (v4 halves the shared-memory traffic per FLOP
// of v3). MASKED tiles (the last key tile, the causal diagonal, any tile with a key mask) test every key; the others
// skip the tests and the −inf guards, which only a masked key can make necessary. Logits stay unscaled until the
// softmax: with scale > 0 the row max of s equals the max of s·scale, so exp2(s·scale2 − m) is one FFMA and an EX2.
// l holds this lane's share of the row sum (its 16 keys of each tile); the quad is summed once at the end.
template <int DH, int MT, bool MASKED>
__device__ __forceinline__ void att3_tile(const AttentionParams& p, const u32 (&qf)[MT][DH / 16][4],
                                          float (&o)[MT][DH / 8][4], float (&m)[MT][2], float (&l)[MT][2],
                                          const bf16_t* Ks, const bf16_t* Vs, int k0, int w0, const bf16_t* maskb,
                                          float scale2) {
    constexpr int LD = DH + ATT3_PAD, KSTEPS = DH / 16, NT_O = DH / 8, NT_S = ATT3_BK / 8;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int off = p.tk - p.tq;

    float s[MT][NT_S][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int n = 0; n < NT_S; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.0f;
#pragma unroll
    for (int n2 = 0; n2 < NT_S / 2; ++n2) {
#pragma unroll
        for (int ks = 0; ks < KSTEPS; ++ks) {
            u32 kf[4];
            ldsm_x4(kf, Ks + (n2 * 16 + (lane & 7) + (lane >> 4) * 8) * LD + ks * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                mma_bf16_16816(s[mt][2 * n2], qf[mt][ks], kf[0], kf[1]);
                mma_bf16_16816(s[mt][2 * n2 + 1], qf[mt][ks], kf[2], kf[3]);
            }
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        float mx[2] = {neg_inf(), neg_inf()};
#pragma unroll
        for (int n = 0; n < NT_S; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                if (MASKED) {
                    const int key = k0 + n * 8 + 2 * t + (e & 1), row = w0 + mt * 16 + g + 8 * (e >> 1);
                    const bool keep = key < p.tk && (!p.causal || key <= row + off);
                    s[mt][n][e] = keep ? s[mt][n][e] * scale2 + (maskb ? ld_f32(maskb + key) * LOG2E_F : 0.0f)
                                       : neg_inf();
                }
                mx[e >> 1] = fmaxf(mx[e >> 1], s[mt][n][e]);
            }
        }
        float alpha[2], mneg[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mn = fmaxf(m[mt][r], MASKED ? mx[r] : mx[r] * scale2);
            // Until a row has seen a kept key, mn is −inf (only possible on a masked tile): keep its state at zero.
            alpha[r] = MASKED && mn == neg_inf() ? 1.0f : exp2f(m[mt][r] - mn);
            mneg[r] = MASKED && mn == neg_inf() ? 0.0f : -mn;
            m[mt][r] = mn;
            l[mt][r] *= alpha[r];
        }
#pragma unroll
        for (int n = 0; n < NT_S; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                // A masked key (−inf) gives exp2(−inf) = 0 whatever the row max.
                const float x = s[mt][n][e];
                const float pe = MASKED ? exp2f(x + mneg[e >> 1]) : exp2f(fmaf(x, scale2, mneg[e >> 1]));
                s[mt][n][e] = pe;
                l[mt][e >> 1] += pe;
            }
        }
#pragma unroll
        for (int n = 0; n < NT_O; ++n) {
            o[mt][n][0] *= alpha[0];
            o[mt][n][1] *= alpha[0];
            o[mt][n][2] *= alpha[1];
            o[mt][n][3] *= alpha[1];
        }
    }

    // O += P·V, 16 keys per step; P goes from the S accumulators straight into A fragments, rounded to bf16.
#pragma unroll
    for (int ks = 0; ks < ATT3_BK / 16; ++ks) {
        u32 pa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            pa[mt][0] = pack_bf16(s[mt][2 * ks][0], s[mt][2 * ks][1]);
            pa[mt][1] = pack_bf16(s[mt][2 * ks][2], s[mt][2 * ks][3]);
            pa[mt][2] = pack_bf16(s[mt][2 * ks + 1][0], s[mt][2 * ks + 1][1]);
            pa[mt][3] = pack_bf16(s[mt][2 * ks + 1][2], s[mt][2 * ks + 1][3]);
        }
#pragma unroll
        for (int n2 = 0; n2 < NT_O / 2; ++n2) {
            u32 vf[4];
            ldsm_x4_trans(vf, Vs + (ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + n2 * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                mma_bf16_16816(o[mt][2 * n2], pa[mt], vf[0], vf[1]);
                mma_bf16_16816(o[mt][2 * n2 + 1], pa[mt], vf[2], vf[3]);
            }
        }
    }
}

// FlashAttention-2 forward with the K/V tiles double-buffered through cp.async: while the block computes on key
// tile j in one buffer, the copies of tile j + 1 land in the other, so one barrier per tile both publishes the
// landed tile and frees the buffer for the next copy. The Q tile is staged in the second buffer before the loop and
// lives in registers (A fragments) after it. Warp w owns rows w0 … w0 + 16·MT − 1; with causal masking the block
// stops at its last row's diagonal and each warp skips the tiles past its own.
template <int DH, int MT>
__device__ __forceinline__ void attention_fwd_pipelined(const AttentionParams& p) {
    extern __shared__ __align__(16) bf16_t att3_smem[];
    constexpr int BQ = 64 * MT, BK = ATT3_BK, LD = DH + ATT3_PAD, KSTEPS = DH / 16, NT_O = DH / 8;
    constexpr int STAGE = 2 * BK * LD;  // K, then V, of one key tile
    static_assert(BQ * LD <= STAGE, "the Q tile is staged in the second K/V buffer");
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
    const int bh = blockIdx.y, b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = blockIdx.x * BQ, w0 = q0 + warp * 16 * MT;
    const int off = p.tk - p.tq;
    const bf16_t* kg = (const bf16_t*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const bf16_t* vg = (const bf16_t*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    const bf16_t* maskb = p.mask ? (const bf16_t*)p.mask + (size_t)b * p.tk : nullptr;
    const float scale2 = p.scale * LOG2E_F;
    // Keys [0, kend) matter to the block, [0, wend) to this warp (causal: up to the diagonal of its last row; none
    // when all its rows are past Tq, as in the last block of an odd length).
    const int kend = p.causal ? min(p.tk, q0 + BQ + off) : p.tk;
    const int wend = w0 >= p.tq ? 0 : p.causal ? min(kend, w0 + 16 * MT + off) : kend;
    const int tiles = kend > 0 ? (kend + BK - 1) / BK : 0;

    bf16_t* const Qs = att3_smem + STAGE;
    att3_load<DH, BQ>(Qs, (const bf16_t*)p.q + att_off(b, h, 0, p.q_sb, p.q_sh, 0), p.q_st, q0, p.tq);
    if (tiles > 0) {
        att3_load<DH, BK>(att3_smem, kg, p.k_st, 0, p.tk);
        att3_load<DH, BK>(att3_smem + BK * LD, vg, p.v_st, 0, p.tk);
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    u32 qf[MT][KSTEPS][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int ks = 0; ks < KSTEPS; ++ks)
            ldsm_x4(qf[mt][ks], Qs + (warp * 16 * MT + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + ks * 16
                                    + (lane >> 4) * 8);

    float o[MT][NT_O][4], m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int n = 0; n < NT_O; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
        m[mt][0] = m[mt][1] = neg_inf();
        l[mt][0] = l[mt][1] = 0.0f;
    }

    for (int j = 0; j < tiles; ++j) {
        // Tile j has landed for every thread (each waited for its own copies below); no warp still reads the other
        // buffer (tile j − 1, or the Q tile when j = 0).
        __syncthreads();
        if (j + 1 < tiles) {
            bf16_t* next = att3_smem + ((j + 1) & 1) * STAGE;
            att3_load<DH, BK>(next, kg, p.k_st, (j + 1) * BK, p.tk);
            att3_load<DH, BK>(next + BK * LD, vg, p.v_st, (j + 1) * BK, p.tk);
        }
        cp_async_commit();
        const int k0 = j * BK;
        if (k0 < wend) {  // warp-uniform
            const bf16_t* Ks = att3_smem + (j & 1) * STAGE;
            const bool masked = maskb || k0 + BK > p.tk || (p.causal && k0 + BK - 1 > w0 + off);
            if (masked) att3_tile<DH, MT, true>(p, qf, o, m, l, Ks, Ks + BK * LD, k0, w0, maskb, scale2);
            else att3_tile<DH, MT, false>(p, qf, o, m, l, Ks, Ks + BK * LD, k0, w0, maskb, scale2);
        }
        cp_async_wait<0>();
    }

#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float sum = l[mt][r];
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            const int row = w0 + mt * 16 + (lane >> 2) + 8 * r;
            if (row >= p.tq) continue;
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            bf16_t* og = (bf16_t*)p.o + att_off(b, h, row, p.o_sb, p.o_sh, p.o_st);
#pragma unroll
            for (int n = 0; n < NT_O; ++n)
                *(u32*)(og + n * 8 + 2 * t) = pack_bf16(o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv);
            if (p.lse && t == 0)
                p.lse[(size_t)bh * p.tq + row] = sum > 0.0f ? (m[mt][r] + log2f(sum)) * LN2_F : neg_inf();
        }
    }
}

// Head dims 64 and 96; 64 queries per block (16 per warp). The second launch bound (≥ 2 blocks per SM) also keeps
// ptxas from the 168-register target it otherwise picks for Dh 96 on sm_80, where it spills.
extern "C" __global__ void __launch_bounds__(ATT_THREADS, 2) attention_fwd_bf16_v3(AttentionParams p) {
    if (p.head_dim == 64) attention_fwd_pipelined<64, 1>(p);
    else attention_fwd_pipelined<96, 1>(p);
}

// Head dim 64 only; 128 queries per block (32 per warp: each K/V fragment serves two mma). At Dh 96 the 32 rows'
// registers (Q fragments, S and O accumulators) exceed 255 and spill.
extern "C" __global__ void __launch_bounds__(ATT_THREADS, 2) attention_fwd_bf16_v4(AttentionParams p) {
    attention_fwd_pipelined<64, 2>(p);
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

// Merges the splits of one (b, h): o = Σ_s o_s·2^(m_s − M) / Σ_s l_s·2^(m_s − M), M = max_s m_s, and its lse.
// `part` is the (b, h)'s (splits, Dh + 2) partial states: const float*, or const volatile float* where other blocks
// of the same launch wrote them.
template <typename T, typename PART>
__device__ __forceinline__ void att_merge_splits(const AttentionParams& p, PART part, int bh) {
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int Dh = p.head_dim;
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

template <typename T>
__device__ __forceinline__ void attention_decode_combine_impl(const AttentionParams& p) {
    const int bh = blockIdx.x;
    att_merge_splits<T>(p, (const float*)p.partial + (size_t)bh * p.splits * (p.head_dim + 2), bh);
}

extern "C" __global__ void attention_decode_combine_f32(AttentionParams p) { attention_decode_combine_impl<float>(p); }
extern "C" __global__ void attention_decode_combine_bf16(AttentionParams p) {
    attention_decode_combine_impl<bf16_t>(p);
}

// ---- single-token decode, streaming (v2): 16-byte loads, one pass, the splits merged by the last block ----------

// Merges the online-softmax state (m, l, acc) of the lane `mask` away into this lane's (base 2; either may be empty).
template <int N>
__device__ __forceinline__ void att_dec_merge_lanes(float& m, float& l, float (&acc)[N], int mask) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, mask), l2 = __shfl_xor_sync(0xffffffffu, l, mask);
    const float mn = fmaxf(m, m2);
    const float a = m == neg_inf() ? 0.0f : exp2f(m - mn), a2 = m2 == neg_inf() ? 0.0f : exp2f(m2 - mn);
#pragma unroll
    for (int i = 0; i < N; ++i) acc[i] = acc[i] * a + __shfl_xor_sync(0xffffffffu, acc[i], mask) * a2;
    l = l * a + l2 * a2;
    m = mn;
}

// One block per (b·H + h, split) over keys [s·chunk, min(Tk, (s+1)·chunk)). A quad of 4 lanes owns one key at a time:
// lane `sub` holds 16-byte chunks sub, sub + 4, … of the head dim (8 bf16 each), so for every load instruction the 8
// quads of a warp read 8 whole rows, 64 contiguous bytes each, and K and V move at full sector efficiency. Each
// quad takes keys 8 apart, two per step (both rows' K and V are in flight before the first is used), and keeps its
// own online softmax (m, l, o); the 8 quads of a warp merge by shuffles, the 4 warps through shared memory, and the
// block writes its partial state. The last block of a (b, h) to finish — counted by an atomic ticket that it then
// resets to zero for the next launch — merges every split and writes o and lse, so the decode is one launch.
template <int DH>
__device__ __forceinline__ void attention_decode_stream(const AttentionParams& p) {
    constexpr int NC = DH / 32;  // 16-byte chunks per lane
    constexpr int WARPS = ATT_THREADS / 32, KEYS = WARPS * 16;  // keys per step of the block
    __shared__ float wstate[WARPS][DH + 2];
    __shared__ int last;
    const int bh = blockIdx.x, b = bh / p.heads, h = bh - b * p.heads;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, quad = lane >> 2, sub = lane & 3;
    const int chunk = (p.tk + p.splits - 1) / p.splits;
    const int j0 = blockIdx.y * chunk, j1 = min(p.tk, j0 + chunk);
    const bf16_t* qg = (const bf16_t*)p.q + att_off(b, h, p.tq - 1, p.q_sb, p.q_sh, p.q_st);
    const bf16_t* kg = (const bf16_t*)p.k + att_off(b, h, 0, p.k_sb, p.k_sh, 0);
    const bf16_t* vg = (const bf16_t*)p.v + att_off(b, h, 0, p.v_sb, p.v_sh, 0);
    const bf16_t* maskb = p.mask ? (const bf16_t*)p.mask + (size_t)b * p.tk : nullptr;
    const float scale2 = p.scale * LOG2E_F;

    float qv[NC * 8], acc[NC * 8];
#pragma unroll
    for (int c = 0; c < NC; ++c)
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            qv[c * 8 + e] = ld_f32(qg + (sub + 4 * c) * 8 + e) * scale2;
            acc[c * 8 + e] = 0.0f;
        }
    float m = neg_inf(), l = 0.0f;

    // The step count is the same for every thread, so the quad shuffles below always find all 32 lanes.
    for (int base = j0; base < j1; base += KEYS) {
        const int ja = base + warp * 16 + quad, jb = ja + 8;
        const bool ha = ja < j1, hb = jb < j1;
        uint4 ka[NC], kb[NC], va[NC], vb[NC];
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const int d = (sub + 4 * c) * 8;
            ka[c] = ha ? load_u16x8(kg + (size_t)ja * p.k_st + d) : make_uint4(0u, 0u, 0u, 0u);
            kb[c] = hb ? load_u16x8(kg + (size_t)jb * p.k_st + d) : make_uint4(0u, 0u, 0u, 0u);
            va[c] = ha ? load_u16x8(vg + (size_t)ja * p.v_st + d) : make_uint4(0u, 0u, 0u, 0u);
            vb[c] = hb ? load_u16x8(vg + (size_t)jb * p.v_st + d) : make_uint4(0u, 0u, 0u, 0u);
        }
        float sa = 0.0f, sb = 0.0f;
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const u32 wa[4] = {ka[c].x, ka[c].y, ka[c].z, ka[c].w}, wb[4] = {kb[c].x, kb[c].y, kb[c].z, kb[c].w};
#pragma unroll
            for (int w = 0; w < 4; ++w) {
                sa += qv[c * 8 + 2 * w] * bf16_lo(wa[w]) + qv[c * 8 + 2 * w + 1] * bf16_hi(wa[w]);
                sb += qv[c * 8 + 2 * w] * bf16_lo(wb[w]) + qv[c * 8 + 2 * w + 1] * bf16_hi(wb[w]);
            }
        }
        sa += __shfl_xor_sync(0xffffffffu, sa, 1);
        sb += __shfl_xor_sync(0xffffffffu, sb, 1);
        sa += __shfl_xor_sync(0xffffffffu, sa, 2);
        sb += __shfl_xor_sync(0xffffffffu, sb, 2);
        sa = ha ? sa + (maskb ? ld_f32(maskb + ja) * LOG2E_F : 0.0f) : neg_inf();
        sb = hb ? sb + (maskb ? ld_f32(maskb + jb) * LOG2E_F : 0.0f) : neg_inf();
        const float mn = fmaxf(m, fmaxf(sa, sb));
        if (mn == neg_inf()) continue;  // nothing kept yet (uniform within the quad; no collective follows)
        const float alpha = exp2f(m - mn), pa = exp2f(sa - mn), pb = exp2f(sb - mn);
        l = l * alpha + pa + pb;
        m = mn;
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const u32 wa[4] = {va[c].x, va[c].y, va[c].z, va[c].w}, wb[4] = {vb[c].x, vb[c].y, vb[c].z, vb[c].w};
#pragma unroll
            for (int w = 0; w < 4; ++w) {
                acc[c * 8 + 2 * w] = acc[c * 8 + 2 * w] * alpha + pa * bf16_lo(wa[w]) + pb * bf16_lo(wb[w]);
                acc[c * 8 + 2 * w + 1] = acc[c * 8 + 2 * w + 1] * alpha + pa * bf16_hi(wa[w]) + pb * bf16_hi(wb[w]);
            }
        }
    }

    // The 8 quads of the warp, then the 4 warps.
    att_dec_merge_lanes(m, l, acc, 4);
    att_dec_merge_lanes(m, l, acc, 8);
    att_dec_merge_lanes(m, l, acc, 16);
    if (quad == 0) {
#pragma unroll
        for (int c = 0; c < NC; ++c)
#pragma unroll
            for (int e = 0; e < 8; ++e) wstate[warp][(sub + 4 * c) * 8 + e] = acc[c * 8 + e];
        if (sub == 0) {
            wstate[warp][DH] = m;
            wstate[warp][DH + 1] = l;
        }
    }
    __syncthreads();
    float M = neg_inf();
#pragma unroll
    for (int w = 0; w < WARPS; ++w) M = fmaxf(M, wstate[w][DH]);
    float* part = p.partial + ((size_t)bh * p.splits + blockIdx.y) * (DH + 2);
    // Slot DH + 1 of wstate (the sums l) merges exactly as the head-dim slots do.
    for (int d = threadIdx.x; d < DH + 2; d += ATT_THREADS) {
        if (d == DH) {
            part[DH] = M;
            continue;
        }
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) {
            const float mw = wstate[w][DH];
            if (mw != neg_inf()) s += wstate[w][d] * exp2f(mw - M);
        }
        part[d] = s;
    }

    // Publish the partial state, then take a ticket; the last of the splits merges them.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(p.tickets + bh, 1) == p.splits - 1;
        if (last) atomicExch(p.tickets + bh, 0);
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    // Volatile loads: the other blocks' partial states must come from L2, not from a stale L1 line.
    att_merge_splits<bf16_t>(p, (const volatile float*)p.partial + (size_t)bh * p.splits * (DH + 2), bh);
}

// Head dims 64 and 96; K and V rows 16-byte aligned. Four blocks per SM: with the first launch bound alone ptxas aims
// at 96 registers here and spills.
extern "C" __global__ void __launch_bounds__(ATT_THREADS, 4) attention_decode_bf16_v2(AttentionParams p) {
    if (p.head_dim == 64) attention_decode_stream<64>(p);
    else attention_decode_stream<96>(p);
}
