// med2e3_emu.h — the CUDA device language on the emulated device.
//
// The emulator's nvrtcCompileProgram compiles a kernel file as C++17 with the host compiler and this header
// force-included (-include). Everything a kernel file of this project may use is here: the built-in variables,
// __shared__ memory, barriers, warp collectives with strict masks, atomics, the math intrinsics, the vector types,
// __launch_bounds__, and the trampoline that unpacks a launch's kernelParams into the kernel's arguments. The block
// executor behind the functions declared in namespace emu is native/emulator/src/executor.cpp.
//
// Two things come from the compile step rather than from this header (src/source_rewrite.cpp):
//   * `__shared__ T x[N];` at block scope becomes `T (&x)[N] = ::emu::shared_ref<T[N]>(...)`: a slot of the block's
//     shared-memory arena, poisoned when the block first touches it and followed by a red zone that is checked when
//     the block ends; `extern __shared__ T x[];` becomes a pointer to the launch's dynamic shared memory.
//   * one MED2E3_EMU_KERNEL(index, &name, "name", bounds) line per extern "C" __global__ definition, appended to the
//     file.
// Line numbers of the kernel file are kept, so compiler messages and a debugger point at the .cu lines.
#pragma once

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <type_traits>
#include <utility>

#define __MED2E3_EMU__ 1

// The version of the interface between a compiled module and the executor; a module built against another version
// is recompiled from the source stored in its image (src/module_image.h).
#define MED2E3_EMU_ABI 1

// The executor's functions that kernel code calls (exported by libmed2e3emu).
#define MED2E3_EMU_API __attribute__((visibility("default")))

// ---- keywords ----------------------------------------------------------------------------------------------------
#define __global__ __attribute__((noinline, used))
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
// Only reached for __shared__ outside a function body (the compile step rewrites every block-scope declaration): a
// per-worker variable, which is per-block storage but neither poisoned nor checked.
#define __shared__ thread_local

// ---- vector types, with CUDA's sizes and alignments ----------------------------------------------------------------
#define MED2E3_EMU_VEC(T, N, A, ...)                                    \
    struct __attribute__((aligned(A))) N##1 { T x; };                   \
    struct __attribute__((aligned(A * 2))) N##2 { T x, y; };            \
    struct N##3 { T x, y, z; };                                         \
    struct __attribute__((aligned(A * 4))) N##4 { T x, y, z, w; };      \
    static inline N##1 make_##N##1(T x) { return {x}; }                 \
    static inline N##2 make_##N##2(T x, T y) { return {x, y}; }         \
    static inline N##3 make_##N##3(T x, T y, T z) { return {x, y, z}; } \
    static inline N##4 make_##N##4(T x, T y, T z, T w) { return {x, y, z, w}; }
MED2E3_EMU_VEC(signed char, char, 1)
MED2E3_EMU_VEC(unsigned char, uchar, 1)
MED2E3_EMU_VEC(short, short, 2)
MED2E3_EMU_VEC(unsigned short, ushort, 2)
MED2E3_EMU_VEC(int, int, 4)
MED2E3_EMU_VEC(unsigned int, uint, 4)
MED2E3_EMU_VEC(float, float, 4)
#undef MED2E3_EMU_VEC
struct __attribute__((aligned(8))) longlong1 { long long x; };
struct __attribute__((aligned(16))) longlong2 { long long x, y; };
struct __attribute__((aligned(8))) ulonglong1 { unsigned long long x; };
struct __attribute__((aligned(16))) ulonglong2 { unsigned long long x, y; };
struct __attribute__((aligned(8))) double1 { double x; };
struct __attribute__((aligned(16))) double2 { double x, y; };
static inline longlong2 make_longlong2(long long x, long long y) { return {x, y}; }
static inline ulonglong2 make_ulonglong2(unsigned long long x, unsigned long long y) { return {x, y}; }
static inline double2 make_double2(double x, double y) { return {x, y}; }
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return {x, y, z}; }
};

// ---- built-in variables --------------------------------------------------------------------------------------------
// Functions marked const: for one CUDA thread the values never change (the executor sets them before it resumes a
// fiber), so the compiler may keep them in registers across loops and barriers. Plain thread_local variables were
// re-read through __tls_get_addr in every iteration of a grid-stride loop.
namespace emu {
MED2E3_EMU_API uint3 thread_idx() __attribute__((const));
MED2E3_EMU_API uint3 block_idx() __attribute__((const));
MED2E3_EMU_API uint3 block_dim() __attribute__((const));
MED2E3_EMU_API uint3 grid_dim() __attribute__((const));
MED2E3_EMU_API unsigned lane_id() __attribute__((const));
MED2E3_EMU_API void* dynamic_smem() __attribute__((const));
}  // namespace emu
// The module's own copies of the accessors, kept in the module (used) so that a debugger can evaluate threadIdx,
// blockIdx, … in a kernel built with MED2E3_EMU_CXXFLAGS="-O0 -g3" (`break rmsnorm.cu:45 if threadIdx.x == 3`).
namespace emu {
namespace here {
__attribute__((used, const)) static inline uint3 thread_idx() { return ::emu::thread_idx(); }
__attribute__((used, const)) static inline uint3 block_idx() { return ::emu::block_idx(); }
__attribute__((used, const)) static inline uint3 block_dim() { return ::emu::block_dim(); }
__attribute__((used, const)) static inline uint3 grid_dim() { return ::emu::grid_dim(); }
}  // namespace here
}  // namespace emu
#define threadIdx (emu::here::thread_idx())
#define blockIdx (emu::here::block_idx())
#define blockDim (emu::here::block_dim())
#define gridDim (emu::here::grid_dim())
#define warpSize 32

// ---- shared memory -----------------------------------------------------------------------------------------------
namespace emu {
// One declaration of a __shared__ variable: one per declarator and template instantiation (the lambda type in
// shared_ref is unique to both). The executor keys the block's slots on its address.
struct SharedSite {
    const char* name;
    unsigned size, align;
};
MED2E3_EMU_API void* shared_slot(const SharedSite* site);
template <typename T, typename Unique>
static inline T& shared_ref(Unique, const char* name, unsigned align = 0) {
    static const SharedSite site = {name, (unsigned)sizeof(T), align > alignof(T) ? align : (unsigned)alignof(T)};
    return *static_cast<T*>(shared_slot(&site));
}
}  // namespace emu

// ---- barriers and warp collectives ---------------------------------------------------------------------------------
// Every lane named by the mask must exist, must not have returned, and must reach a collective of the same kind;
// otherwise the launch fails with a diagnostic naming the kernel, block, thread and mask.
namespace emu {
enum Collective : int { COLL_SYNCWARP = 1, COLL_SHFL, COLL_VOTE, COLL_LDMATRIX, COLL_MMA };
enum ShflMode : int { SHFL_IDX = 0, SHFL_UP, SHFL_DOWN, SHFL_XOR };
enum VoteMode : int { VOTE_BALLOT = 0, VOTE_ANY, VOTE_ALL };
enum BarrierOp : int { BAR_SYNC = 0, BAR_COUNT, BAR_AND, BAR_OR };
MED2E3_EMU_API int syncthreads(int op, int pred);
MED2E3_EMU_API void syncwarp(unsigned mask);
MED2E3_EMU_API unsigned long long shfl(unsigned mask, unsigned long long bits, int lane_or_delta, int width, int mode);
MED2E3_EMU_API unsigned vote(unsigned mask, int pred, int mode);
MED2E3_EMU_API void threadfence();
[[noreturn]] MED2E3_EMU_API void trap(const char* what);
[[noreturn]] MED2E3_EMU_API void assert_fail(const char* expr, const char* file, int line);
}  // namespace emu
static inline void __syncthreads() { ::emu::syncthreads(::emu::BAR_SYNC, 0); }
static inline int __syncthreads_count(int p) { return ::emu::syncthreads(::emu::BAR_COUNT, p); }
static inline int __syncthreads_and(int p) { return ::emu::syncthreads(::emu::BAR_AND, p); }
static inline int __syncthreads_or(int p) { return ::emu::syncthreads(::emu::BAR_OR, p); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::syncwarp(mask); }
static inline void __threadfence() { ::emu::threadfence(); }
static inline void __threadfence_block() { ::emu::threadfence(); }
static inline void __threadfence_system() { ::emu::threadfence(); }
static inline void __trap() { ::emu::trap("__trap()"); }

namespace emu {
template <typename T>
static inline T shfl_t(unsigned mask, T v, int lane, int width, int mode) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
    unsigned long long bits = 0;
    memcpy(&bits, &v, sizeof(T));
    bits = shfl(mask, bits, lane, width, mode);
    T r;
    memcpy(&r, &bits, sizeof(T));
    return r;
}
}  // namespace emu
template <typename T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return ::emu::shfl_t(mask, v, src, width, ::emu::SHFL_IDX);
}
template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return ::emu::shfl_t(mask, v, (int)delta, width, ::emu::SHFL_UP);
}
template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return ::emu::shfl_t(mask, v, (int)delta, width, ::emu::SHFL_DOWN);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return ::emu::shfl_t(mask, v, lane_mask, width, ::emu::SHFL_XOR);
}
static inline unsigned __ballot_sync(unsigned mask, int p) { return ::emu::vote(mask, p, ::emu::VOTE_BALLOT); }
static inline int __any_sync(unsigned mask, int p) { return (int)::emu::vote(mask, p, ::emu::VOTE_ANY); }
static inline int __all_sync(unsigned mask, int p) { return (int)::emu::vote(mask, p, ::emu::VOTE_ALL); }

// Device-side assert: a failed assertion ends the launch with CUDA_ERROR_ASSERT (the process lives on).
#undef assert
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : ::emu::assert_fail(#e, __FILE__, __LINE__))
#endif

// ---- bit casts and integer intrinsics ------------------------------------------------------------------------------
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
static inline double __longlong_as_double(long long u) { double f; memcpy(&f, &u, 8); return f; }
static inline long long __double_as_longlong(double f) { long long u; memcpy(&u, &f, 8); return u; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
static inline int __mul24(int a, int b) { return (int)((long long)(a << 8 >> 8) * (b << 8 >> 8)); }
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
// cvt.rni.u64.f64: round to nearest even, saturating, NaN → 0 (the PTX rule).
static inline unsigned long long __double2ull_rn(double d) {
    if (!(d > 0.0)) return 0ull;
    if (d >= 18446744073709551616.0) return ~0ull;
    return (unsigned long long)nearbyint(d);
}
// cvt.rni.s32.f32: round to nearest even, saturating, NaN → 0.
static inline int __float2int_rn(float f) {
    if (f != f) return 0;
    if (f >= 2147483648.0f) return INT_MAX;
    if (f <= -2147483648.0f) return INT_MIN;
    return (int)nearbyintf(f);
}
static inline int __float2int_rz(float f) {
    if (f != f) return 0;
    if (f >= 2147483648.0f) return INT_MAX;
    if (f <= -2147483648.0f) return INT_MIN;
    return (int)f;
}
static inline void* __cvta_generic_to_shared_ptr(const void* p) { return const_cast<void*>(p); }
static inline unsigned long long __cvta_generic_to_shared(const void* p) { return (unsigned long long)(uintptr_t)p; }
template <typename T>
static inline T __ldg(const T* p) { return *p; }

// ---- floating point --------------------------------------------------------------------------------------------
// IEEE single operations that must not be contracted into an FMA (modules are compiled with -ffp-contract=off; the
// volatile keeps even an optimiser that ignores it honest).
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline float __frcp_rn(float a) { volatile float r = 1.0f / a; return r; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __dadd_rn(double a, double b) { volatile double r = a + b; return r; }
static inline double __dmul_rn(double a, double b) { volatile double r = a * b; return r; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
// The fast intrinsics are approximations on a GPU; here they are the accurate functions (tolerances cover both).
// Macros, because glibc's math.h declares functions of these names itself.
#define __expf(x) expf(x)
#define __exp10f(x) exp10f(x)
#define __logf(x) logf(x)
#define __log2f(x) log2f(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanf(x) tanf(x)
#define __powf(x, y) powf(x, y)
#define __sincosf(x, s, c) sincosf(x, s, c)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __saturatef(float x) { return x != x ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
static inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
static inline float sinpif(float x) { return sinf(x * 3.14159265358979323846f); }
static inline float cospif(float x) { return cosf(x * 3.14159265358979323846f); }

// min and max as the CUDA math API overloads them: the usual arithmetic conversions, fminf/fmaxf for floats.
template <typename A, typename B>
static inline typename std::enable_if<std::is_integral<A>::value && std::is_integral<B>::value,
                                      typename std::common_type<A, B>::type>::type
min(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)a < (C)b ? (C)a : (C)b;
}
template <typename A, typename B>
static inline typename std::enable_if<std::is_integral<A>::value && std::is_integral<B>::value,
                                      typename std::common_type<A, B>::type>::type
max(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)a > (C)b ? (C)a : (C)b;
}
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
static inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned umax(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long llmin(long long a, long long b) { return a < b ? a : b; }
static inline long long llmax(long long a, long long b) { return a > b ? a : b; }

// ---- atomics (real host atomics: the blocks of a launch run on several worker threads) ---------------------------
namespace emu {
template <typename T, typename F>
static inline T atomic_update(T* p, F f) {
    typedef typename std::conditional<sizeof(T) == 8, unsigned long long, unsigned>::type U;
    static_assert(sizeof(T) == sizeof(U), "atomic of this size is not modelled");
    U* u = reinterpret_cast<U*>(p);
    U old = __atomic_load_n(u, __ATOMIC_RELAXED), want;
    T o;
    do {
        memcpy(&o, &old, sizeof(T));
        const T n = f(o);
        memcpy(&want, &n, sizeof(T));
    } while (!__atomic_compare_exchange_n(u, &old, want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    memcpy(&o, &old, sizeof(T));
    return o;
}
}  // namespace emu
template <typename T>
static inline typename std::enable_if<std::is_integral<T>::value, T>::type atomicAdd(T* p, T v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static inline float atomicAdd(float* p, float v) { return ::emu::atomic_update(p, [v](float o) { return o + v; }); }
static inline double atomicAdd(double* p, double v) { return ::emu::atomic_update(p, [v](double o) { return o + v; }); }
template <typename T>
static inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
template <typename T>
static inline T atomicExch(T* p, T v) {
    if constexpr (std::is_integral<T>::value) {
        return __atomic_exchange_n(p, v, __ATOMIC_RELAXED);
    } else {
        return ::emu::atomic_update(p, [v](T) { return v; });
    }
}
template <typename T>
static inline T atomicMin(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename T>
static inline T atomicMax(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename T>
static inline T atomicAnd(T* p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }
template <typename T>
static inline T atomicOr(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }
template <typename T>
static inline T atomicXor(T* p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); }
template <typename T>
static inline T atomicCAS(T* p, T expected, T desired) {
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return expected;
}
static inline unsigned atomicInc(unsigned* p, unsigned limit) {
    return ::emu::atomic_update(p, [limit](unsigned o) { return o >= limit ? 0u : o + 1u; });
}
static inline unsigned atomicDec(unsigned* p, unsigned limit) {
    return ::emu::atomic_update(p, [limit](unsigned o) { return (o == 0u || o > limit) ? limit : o - 1u; });
}

// ---- IEEE half conversions (cvt.f32.f16 is exact; cvt.rn.f16.f32 rounds to nearest even) --------------------------
namespace emu {
static inline float f16_to_f32(unsigned short h) {
    const unsigned sign = (unsigned)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {  // zero or subnormal: m · 2^-24, exact in f32
        const float v = (float)m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    const unsigned bits = e == 31 ? sign | 0x7f800000u | (m << 13) : sign | ((e + 112u) << 23) | (m << 13);
    return __uint_as_float(bits);
}
static inline unsigned short f32_to_f16(float f) {
    const unsigned x = __float_as_uint(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN stays NaN
    if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);                          // ≥ 65520: ∞
    if (ax < 0x38800000u) {  // below 2^-14: a subnormal half, round(|f| · 2^24) to nearest even
        return (unsigned short)(sign | (unsigned)nearbyintf(__uint_as_float(ax) * 16777216.0f));
    }
    return (unsigned short)(sign | ((ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13));
}
}  // namespace emu

// ---- tensor-core fragments: the warp-wide model of ldmatrix and mma.sync.m16n8k16 (executor.cpp) -----------------
namespace emu {
MED2E3_EMU_API void ldmatrix_x4(unsigned (&r)[4], const void* row_address, bool trans);
MED2E3_EMU_API void mma_m16n8k16_bf16_f32(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);
}  // namespace emu

// ---- asynchronous copies global → shared: cp.async, cp.async.commit_group, cp.async.wait_group (executor.cpp) -------
// cp_async reads its src_size source bytes at the issue (zeros for the rest of the cp_size bytes) and leaves the
// destination undefined (the poison) until the issuing thread waits for the copy's group, when it lands.
namespace emu {
MED2E3_EMU_API void cp_async(void* dst_shared, const void* src_global, int cp_size, int src_size);
MED2E3_EMU_API void cp_async_commit();
MED2E3_EMU_API void cp_async_wait(int pending_groups);
}  // namespace emu

// ---- kernel registration: one trampoline per extern "C" __global__ definition ---------------------------------------
namespace emu {
enum { MAX_PARAMS = 64 };
struct KernelDesc {
    const char* name;
    void (*entry)(const void* blob);  // unpacks the argument blob and calls the kernel
    int nargs;
    int max_threads;  // __launch_bounds__, else 1024
    int blob_size;
    unsigned short size[MAX_PARAMS], align[MAX_PARAMS], offset[MAX_PARAMS];
};
struct ModuleDesc {
    int abi;
    int count;
    KernelDesc* kernels[4096];
};
static inline ModuleDesc& module_desc() {
    static ModuleDesc m = {MED2E3_EMU_ABI, 0, {}};
    return m;
}
template <auto F>
struct Tramp;
template <typename... A, void (*F)(A...)>
struct Tramp<F> {
    static KernelDesc desc;
    template <size_t... I>
    static void call(const void* blob, std::index_sequence<I...>) {
        F(*reinterpret_cast<const typename std::remove_cv<A>::type*>(static_cast<const char*>(blob) +
                                                                     desc.offset[I])...);
    }
    static void entry(const void* blob) { call(blob, std::index_sequence_for<A...>{}); }
    static int add(const char* name, int max_threads) {
        static_assert(sizeof...(A) <= MAX_PARAMS, "too many kernel parameters");
        const size_t sizes[] = {sizeof(A)..., 0}, aligns[] = {alignof(A)..., 1};
        desc.name = name;
        desc.entry = &entry;
        desc.nargs = (int)sizeof...(A);
        desc.max_threads = max_threads;
        size_t off = 0;
        for (int i = 0; i < desc.nargs; i++) {
            off = (off + aligns[i] - 1) / aligns[i] * aligns[i];
            desc.size[i] = (unsigned short)sizes[i];
            desc.align[i] = (unsigned short)aligns[i];
            desc.offset[i] = (unsigned short)off;
            off += sizes[i];
        }
        desc.blob_size = (int)off;
        ModuleDesc& m = module_desc();
        if (m.count < (int)(sizeof m.kernels / sizeof m.kernels[0])) m.kernels[m.count++] = &desc;
        return 0;
    }
};
template <typename... A, void (*F)(A...)>
KernelDesc Tramp<F>::desc;
}  // namespace emu
#define MED2E3_EMU_KERNEL(index, function, name, bounds) \
    static const int med2e3_emu_kernel_##index = ::emu::Tramp<function>::add(name, (int)(bounds));
// The one exported symbol of a module: the executor finds its kernels here after dlopen.
#ifndef MED2E3_EMU_RUNTIME
extern "C" __attribute__((visibility("default"))) const ::emu::ModuleDesc* med2e3_emu_module(void) {
    return &::emu::module_desc();
}
#endif
