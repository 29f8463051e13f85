// selftest.cpp — the emulator's own tests, through the same C entry points the .NET runtime calls.
//
//   emu_selftest CASE     (CTest runs every case; `emu_selftest list` prints them)
//
// Each check of the emulator has a case that plants the bug it exists for (tests/kernels/planted.cu) and shows
// the check catch it, and runs the correct kernel to show it passes: a missing __syncthreads (the schedules
// disagree), an off-by-one bound (guard page, slack canary), a params struct laid out differently on the host
// (guard page), an argument of the wrong width (launch check), shared memory overflows (red zone, guard page),
// reads of memory nobody wrote (NaN poison), a full-mask shuffle in a partial warp, a return while others wait at a
// barrier, the launch limits, use after free, deferred streams, faults of several kinds, and cp.async copies read
// before they land.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
int cuInit(unsigned);
int cuGetErrorName(int, const char**);
int cuGetErrorString(int, const char**);
int cuDevicePrimaryCtxRetain(void**, int);
int cuDevicePrimaryCtxRelease_v2(int);
int cuCtxSynchronize();
int cuMemAlloc_v2(uint64_t*, size_t);
int cuMemFree_v2(uint64_t);
int cuMemHostAlloc(void**, size_t, unsigned);
int cuMemFreeHost(void*);
int cuMemcpyHtoDAsync_v2(uint64_t, const void*, size_t, void*);
int cuMemcpyDtoHAsync_v2(void*, uint64_t, size_t, void*);
int cuMemsetD32Async(uint64_t, unsigned, size_t, void*);
int cuStreamCreate(void**, unsigned);
int cuStreamSynchronize(void*);
int cuModuleLoadData(void**, const void*);
int cuModuleGetFunction(void**, void*, const char*);
int cuFuncGetAttribute(int*, int, void*);
int cuFuncSetAttribute(void*, int, int);
int cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);
int nvrtcCreateProgram(void**, const char*, const char*, int, const char* const*, const char* const*);
int nvrtcCompileProgram(void*, int, const char* const*);
int nvrtcGetProgramLogSize(void*, size_t*);
int nvrtcGetProgramLog(void*, char*);
int nvrtcGetCUBINSize(void*, size_t*);
int nvrtcGetCUBIN(void*, char*);
int nvrtcDestroyProgram(void**);
int nvrtcVersion(int*, int*);
int med2e3_emu_configure(const char*, const char*);
}

namespace {

constexpr int kIllegalAddress = 700, kLaunchFailed = 719, kOutOfResources = 701, kInvalidValue = 1, kAssert = 710;
int g_failures = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            g_failures++;                                                               \
        }                                                                               \
    } while (0)

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string error_text(int r) {
    const char* s = nullptr;
    cuGetErrorString(r, &s);
    return s ? s : "?";
}

void* g_module;
void* g_stream;

// The primary context, created again after a planted bug left a sticky error.
void fresh_context() {
    void* ctx;
    static bool retained = false;
    if (retained) cuDevicePrimaryCtxRelease_v2(0);
    cuDevicePrimaryCtxRetain(&ctx, 0);
    retained = true;
}

// Compiles `src` (named `file`) with in-memory headers and loads it; null with the log in *log when it fails.
void* compile(const char* file, const std::string& src, const std::vector<std::pair<std::string, std::string>>& hs,
              std::string* log) {
    std::vector<const char*> headers, names;
    for (const auto& h : hs) {
        names.push_back(h.first.c_str());
        headers.push_back(h.second.c_str());
    }
    void* prog;
    nvrtcCreateProgram(&prog, src.c_str(), file, (int)hs.size(), headers.data(), names.data());
    const char* opts[] = {"--std=c++17", "-lineinfo", "--gpu-architecture=sm_80"};
    const int rc = nvrtcCompileProgram(prog, 3, opts);
    size_t n;
    nvrtcGetProgramLogSize(prog, &n);
    log->assign(n, '\0');
    nvrtcGetProgramLog(prog, &(*log)[0]);
    if (rc != 0) {
        nvrtcDestroyProgram(&prog);
        return nullptr;
    }
    nvrtcGetCUBINSize(prog, &n);
    std::vector<char> image(n);
    nvrtcGetCUBIN(prog, image.data());
    nvrtcDestroyProgram(&prog);
    void* module = nullptr;
    if (int r = cuModuleLoadData(&module, image.data())) *log += "cuModuleLoadData: " + error_text(r);
    return module;
}

void* load(const char* file) {
    const std::string dir = MED2E3_EMU_TEST_KERNELS;
    std::string log;
    void* m = compile(file, read_text(dir + "/" + file),
                      {{"common.cuh", read_text(dir + "/../../../../kernels/common.cuh")}}, &log);
    if (!m) {
        fprintf(stderr, "compile of %s failed:\n%s\n", file, log.c_str());
        exit(2);
    }
    return m;
}

void* fn(const char* name) {
    void* f = nullptr;
    if (cuModuleGetFunction(&f, g_module, name)) {
        fprintf(stderr, "no kernel %s\n", name);
        exit(2);
    }
    return f;
}

struct Buffer {
    uint64_t ptr = 0;
    size_t bytes = 0;
    explicit Buffer(size_t b) : bytes(b) { cuMemAlloc_v2(&ptr, b); }
    ~Buffer() { cuMemFree_v2(ptr); }
    template <typename T>
    void upload(const std::vector<T>& v) { cuMemcpyHtoDAsync_v2(ptr, v.data(), v.size() * sizeof(T), g_stream); }
    template <typename T>
    std::vector<T> download() {
        std::vector<T> v(bytes / sizeof(T));
        cuMemcpyDtoHAsync_v2(v.data(), ptr, bytes, g_stream);
        return v;
    }
};

// Launches and synchronises; returns the first error.
int run(const char* kernel, unsigned grid, unsigned block, unsigned smem, std::vector<void*> args) {
    int r = cuLaunchKernel(fn(kernel), grid, 1, 1, block, 1, 1, smem, g_stream, args.data(), nullptr);
    if (r) return r;
    return cuStreamSynchronize(g_stream);
}

bool contains(const std::string& s, const char* part) {
    if (s.find(part) != std::string::npos) return true;
    fprintf(stderr, "expected \"%s\" in: %s\n", part, s.c_str());
    return false;
}

std::vector<float> iota(int n) {
    std::vector<float> v(n);
    for (int i = 0; i < n; i++) v[i] = (float)(i % 97) * 0.25f + 1.0f;
    return v;
}

// ---- cases ---------------------------------------------------------------------------------------------------------
void missing_sync() {
    const int n = 4 * 256;
    Buffer x(n * 4), y(n * 4);
    x.upload(iota(n));
    auto outputs = [&](const char* kernel) {
        std::vector<std::vector<float>> out;
        for (const char* schedule : {"forward", "reverse", "random:7"}) {
            med2e3_emu_configure("schedule", schedule);
            CHECK(run(kernel, 4, 256, 0, {&x.ptr, &y.ptr}) == 0);
            out.push_back(y.download<float>());
        }
        med2e3_emu_configure("schedule", "forward");
        return out;
    };
    const auto bad = outputs("neighbour_nosync");
    int differ = 0;
    for (int i = 0; i < n; i++) differ += bad[0][i] != bad[1][i] || bad[0][i] != bad[2][i];
    printf("  without the barrier: %d of %d outputs differ between the forward, reverse and random schedules\n",
           differ, n);
    CHECK(differ > n / 2);
    const auto good = outputs("neighbour_sync");
    const std::vector<float> want = [&] {
        std::vector<float> v(n), in = iota(n);
        for (int i = 0; i < n; i++) v[i] = in[(i & ~255) | ((i + 1) & 255)];
        return v;
    }();
    for (const auto& g : good) CHECK(g == want);
    printf("  with the barrier: every schedule gives the reference\n");
}

void off_by_one() {
    for (int n : {1000, 1024}) {
        fresh_context();
        Buffer x(n * 4), y(n * 4);
        x.upload(iota(n));
        const int r = run("copy_le", (n + 255) / 256 + 1, 256, 0, {&x.ptr, &y.ptr, &n});
        const std::string e = error_text(r);
        printf("  i <= n, n = %d: %s\n", n, e.c_str());
        CHECK(r == kIllegalAddress);
        // 1024 floats end on a page: the read x[n] hits the guard page. 1000 floats leave 96 bytes of slack before
        // it (allocations are 256-byte aligned): the read sees the poison, and the write into the slack is found.
        CHECK(contains(e, n == 1024 ? "0 bytes past the end of the 4096-byte device allocation"
                                    : "wrote past the end of the 4000-byte device allocation"));
        fresh_context();
        Buffer x2(n * 4), y2(n * 4);
        x2.upload(iota(n));
        CHECK(run("copy_lt", (n + 255) / 256 + 1, 256, 0, {&x2.ptr, &y2.ptr, &n}) == 0);
        CHECK(y2.download<float>() == iota(n));
    }
    printf("  i < n: passes and copies exactly\n");
}

void struct_mismatch() {
    struct Kernel { uint64_t x, y; float a; int n; };   // as the kernel declares it
    struct Swapped { uint64_t x, y; int n; float a; };  // as a host with the two fields swapped lays it out
    static_assert(sizeof(Kernel) == sizeof(Swapped), "same size: a size check alone cannot see the mismatch");
    const int n = 5000;
    fresh_context();
    Buffer x(n * 4), y(n * 4);
    x.upload(iota(n));
    Swapped bad = {x.ptr, y.ptr, n, 0.5f};
    void* args[] = {&bad};
    const int r = run("scale_struct", 20, 256, 0, {args[0]});
    const std::string e = error_text(r);
    printf("  fields n and a swapped on the host: %s\n", e.c_str());
    CHECK(r == kIllegalAddress);
    CHECK(contains(e, "past the end of the 20000-byte device allocation"));
    fresh_context();
    Buffer x2(n * 4), y2(n * 4);
    x2.upload(iota(n));
    Kernel good = {x2.ptr, y2.ptr, 0.5f, n};
    CHECK(run("scale_struct", 20, 256, 0, {&good}) == 0);
    const auto got = y2.download<float>();
    const auto in = iota(n);
    bool ok = true;
    for (int i = 0; i < n; i++) ok = ok && got[i] == 0.5f * in[i];
    CHECK(ok);
    printf("  the kernel's layout: passes\n");

    // Plain arguments in one block, as KernelArgs packs them: an int where the kernel takes a long long.
    struct { uint64_t x, y; int n; float a; } packed = {x2.ptr, y2.ptr, n, 2.0f};
    void* wrong[] = {&packed.x, &packed.y, &packed.n, &packed.a};
    const int w = cuLaunchKernel(fn("scale_wide"), 20, 1, 1, 256, 1, 1, 0, g_stream, wrong, nullptr);
    printf("  int passed for long long: %s\n", error_text(w).c_str());
    CHECK(w == kInvalidValue && contains(error_text(w), "parameter 2 is 8 bytes, but the caller's value is at most 4"));
    struct { uint64_t x, y; long long n; float a; } right = {x2.ptr, y2.ptr, n, 2.0f};
    void* ok_args[] = {&right.x, &right.y, &right.n, &right.a};
    CHECK(cuLaunchKernel(fn("scale_wide"), 20, 1, 1, 256, 1, 1, 0, g_stream, ok_args, nullptr) == 0);
    CHECK(cuStreamSynchronize(g_stream) == 0);
}

void shared_overflow() {
    fresh_context();
    Buffer y(64 * 4);
    int extra = 1;
    int r = run("static_overflow", 1, 64, 0, {&y.ptr, &extra});
    printf("  static __shared__ s[64], s[64] written: %s\n", error_text(r).c_str());
    CHECK(r == kIllegalAddress && contains(error_text(r), "wrote __shared__ s past its end"));
    fresh_context();
    Buffer y2(64 * 4);
    extra = 0;
    CHECK(run("static_overflow", 1, 64, 0, {&y2.ptr, &extra}) == 0);

    // 60 floats end 16-byte aligned at the guard page: buf[60] faults; 62 floats leave slack, found by the canary.
    for (unsigned count : {60u, 62u}) {
        fresh_context();
        Buffer y3(64 * 4);
        extra = 1;
        r = run("dynamic_overflow", 1, count, count * 4, {&y3.ptr, &extra});
        printf("  dynamic shared memory of %u floats, buf[%u] written: %s\n", count, count, error_text(r).c_str());
        CHECK(r == kIllegalAddress);
        CHECK(contains(error_text(r), count == 60 ? "past the 240 bytes of the launch"
                                                  : "wrote dynamic shared memory at byte 248, past the 248 bytes"));
    }
    fresh_context();
    Buffer y4(64 * 4);
    extra = 0;
    CHECK(run("dynamic_overflow", 1, 60, 240, {&y4.ptr, &extra}) == 0);
    printf("  in bounds: passes\n");
}

void uninitialised() {
    fresh_context();
    Buffer y(64 * 4);
    int written = 32;
    CHECK(run("half_written", 1, 64, 0, {&y.ptr, &written}) == 0);
    auto got = y.download<float>();
    int nans = 0;
    for (float v : got) nans += isnan(v);
    printf("  shared memory half written: %d of 64 outputs are NaN (the poison)\n", nans);
    CHECK(nans == 32);
    written = 64;
    CHECK(run("half_written", 1, 64, 0, {&y.ptr, &written}) == 0);
    got = y.download<float>();
    nans = 0;
    for (float v : got) nans += isnan(v);
    CHECK(nans == 0);

    const int n = 300;
    Buffer x(n * 4), out(n * 4);
    CHECK(run("read_global", 2, 256, 0, {&x.ptr, &out.ptr, (void*)&n}) == 0);
    got = out.download<float>();
    nans = 0;
    for (float v : got) nans += isnan(v);
    printf("  device memory never written: %d of %d outputs are NaN\n", nans, n);
    CHECK(nans == n);
    x.upload(iota(n));
    CHECK(run("read_global", 2, 256, 0, {&x.ptr, &out.ptr, (void*)&n}) == 0);
    got = out.download<float>();
    nans = 0;
    for (float v : got) nans += isnan(v);
    CHECK(nans == 0);
    printf("  written first: no NaN\n");
}

void partial_warp() {
    fresh_context();
    Buffer x(64 * 4), y(2 * 4);
    x.upload(iota(64));
    int r = run("warp_totals", 1, 48, 0, {&x.ptr, &y.ptr});
    printf("  warp_sum in a block of 48: %s\n", error_text(r).c_str());
    CHECK(r == kLaunchFailed && contains(error_text(r), "mask 0xffffffff names lanes that do not exist (this warp has 16 lanes)"));
    fresh_context();
    Buffer x2(64 * 4), y2(2 * 4);
    const auto in = iota(64);
    x2.upload(in);
    CHECK(run("warp_totals", 1, 64, 0, {&x2.ptr, &y2.ptr}) == 0);
    const auto got = y2.download<float>();
    float s0 = 0, s1 = 0;
    for (int i = 0; i < 32; i++) {
        s0 += in[i];
        s1 += in[32 + i];
    }
    CHECK(fabsf(got[0] - s0) < 1e-3f && fabsf(got[1] - s1) < 1e-3f);
    printf("  a block of 64: passes\n");
}

void early_return() {
    fresh_context();
    Buffer y(64 * 4);
    int n = 40;
    int r = run("early_return", 1, 64, 0, {&y.ptr, &n});
    printf("  return before __syncthreads: %s\n", error_text(r).c_str());
    CHECK(r == kLaunchFailed && contains(error_text(r), "__syncthreads"));
    fresh_context();
    Buffer y2(64 * 4);
    CHECK(run("guarded_tail", 1, 64, 0, {&y2.ptr, &n}) == 0);
    printf("  the bound checked after the barrier: passes\n");
}

void launch_limits() {
    fresh_context();
    Buffer y(4096 * 4);
    void* args[] = {&y.ptr};
    auto launch = [&](const char* k, unsigned gx, unsigned gy, unsigned bx, unsigned smem) {
        return cuLaunchKernel(fn(k), gx, gy, 1, bx, 1, 1, smem, g_stream, args, nullptr);
    };
    int r = launch("bounded", 1, 1, 1025, 0);
    printf("  1025 threads: %s\n", error_text(r).c_str());
    CHECK(r == kInvalidValue);
    r = launch("bounded", 1, 1, 256, 0);
    printf("  256 threads with __launch_bounds__(128): %s\n", error_text(r).c_str());
    CHECK(r == kOutOfResources && contains(error_text(r), "__launch_bounds__ allows 128"));
    r = launch("bounded", 1, 65536, 32, 0);
    CHECK(r == kInvalidValue);
    r = launch("dynamic_overflow", 1, 1, 32, 49 << 10);
    printf("  49 KiB of dynamic shared memory: %s\n", error_text(r).c_str());
    CHECK(r == kInvalidValue);
    int bounds = 0;
    cuFuncGetAttribute(&bounds, 0, fn("bounded"));
    CHECK(bounds == 128);
    cuFuncGetAttribute(&bounds, 0, fn("bounded_min_blocks"));  // __launch_bounds__(2 * 32, 4): the first argument
    CHECK(bounds == 64);
    CHECK(cuFuncSetAttribute(fn("dynamic_overflow"), 8, 100 << 10) == 0);
    int extra = 0;
    void* dyn_args[] = {&y.ptr, &extra};
    CHECK(cuLaunchKernel(fn("dynamic_overflow"), 1, 1, 1, 32, 1, 1, 100 << 10, g_stream, dyn_args, nullptr) == 0);
    CHECK(cuStreamSynchronize(g_stream) == 0);
    CHECK(cuFuncSetAttribute(fn("dynamic_overflow"), 8, 200 << 10) == kInvalidValue);
    // 8 KiB of static shared memory is known once the kernel has run; then 44 KiB of dynamic exceeds 48 KiB.
    CHECK(run("big_static", 1, 256, 0, {&y.ptr}) == 0);
    int stat = 0;
    cuFuncGetAttribute(&stat, 1, fn("big_static"));
    CHECK(stat == 8192);
    r = cuLaunchKernel(fn("big_static"), 1, 1, 1, 256, 1, 1, 44 << 10, g_stream, args, nullptr);
    printf("  8 KiB static + 44 KiB dynamic: %s\n", error_text(r).c_str());
    CHECK(r == kInvalidValue);
    CHECK(launch("bounded", 4, 1, 128, 0) == 0 && cuStreamSynchronize(g_stream) == 0);
    printf("  within the limits: passes\n");
}

void use_after_free() {
    fresh_context();
    const int n = 256;
    uint64_t x;
    cuMemAlloc_v2(&x, n * 4);
    Buffer y(n * 4);
    cuMemFree_v2(x);
    const int r = run("read_global", 1, 256, 0, {&x, &y.ptr, (void*)&n});
    printf("  a kernel reads a freed buffer: %s\n", error_text(r).c_str());
    CHECK(r == kIllegalAddress && contains(error_text(r), "(a use after free)"));
}

void deferred_streams() {
    fresh_context();
    CHECK(med2e3_emu_configure("streams", "deferred") == 0);
    const int n = 1024;
    Buffer x(n * 4);
    x.upload(iota(n));
    float* pinned = nullptr;
    cuMemHostAlloc((void**)&pinned, n * 4, 0);
    for (int i = 0; i < n; i++) pinned[i] = -1.0f;
    cuMemcpyDtoHAsync_v2(pinned, x.ptr, n * 4, g_stream);
    const float before = pinned[5];  // the bug: reading before the stream is synchronised
    cuStreamSynchronize(g_stream);
    const float after = pinned[5];
    printf("  pinned memory read before / after cuStreamSynchronize: %g / %g\n", before, after);
    CHECK(before == -1.0f && after == iota(n)[5]);
    cuMemFreeHost(pinned);
    CHECK(med2e3_emu_configure("streams", "immediate") == 0);
}

void faults() {
    fresh_context();
    Buffer y(4 * 64 * 4);
    int bb = 2, bt = 5;
    int r = run("poke", 4, 64, 0, {&y.ptr, &bb, &bt});
    printf("  a store through 0x10: %s\n", error_text(r).c_str());
    CHECK(r == kIllegalAddress && contains(error_text(r), "poke block (2,0,0) thread (5,0,0): illegal address 0x10"));
    // sticky until the context goes
    uint64_t p;
    CHECK(cuMemAlloc_v2(&p, 64) == kIllegalAddress);
    fresh_context();
    CHECK(cuMemAlloc_v2(&p, 64) == 0);
    cuMemFree_v2(p);

    Buffer q(64 * 4);
    int zero = 0;
    r = run("divide", 1, 64, 0, {&q.ptr, &zero});
    printf("  integer division by zero: %s\n", error_text(r).c_str());
    CHECK(r == kLaunchFailed && contains(error_text(r), "integer division by zero"));

    fresh_context();
    Buffer s(64 * 4);
    int depth = 100;
    r = run("deep", 1, 1, 0, {&s.ptr, &depth});
    printf("  a deep recursion: %s\n", error_text(r).c_str());
    CHECK(r == kIllegalAddress && contains(error_text(r), "stack overflow"));

    fresh_context();
    Buffer v(64 * 4);
    std::vector<int> values(64, 1);
    values[17] = -1;
    v.upload(values);
    r = run("checked", 1, 64, 0, {&v.ptr});
    printf("  a failed device assert: %s\n", error_text(r).c_str());
    const std::string planted = read_text(std::string(MED2E3_EMU_TEST_KERNELS) + "/planted.cu");
    const int line = 1 + (int)std::count(planted.begin(), planted.begin() + (long)planted.find("assert(x["), '\n');
    const std::string where = "thread (17,0,0): device-side assertion `x[threadIdx.x] >= 0` failed at planted.cu:" +
                              std::to_string(line);
    CHECK(r == kAssert && contains(error_text(r), where.c_str()));
    fresh_context();
}

void collectives() {
    fresh_context();
    const int blocks = 3, n = blocks * 256;
    Buffer x(n * 4), y(blocks * 4);
    const auto in = iota(n);
    x.upload(in);
    for (const char* schedule : {"forward", "reverse", "random:3"}) {
        med2e3_emu_configure("schedule", schedule);
        CHECK(run("block_total", blocks, 256, 0, {&x.ptr, &y.ptr}) == 0);
        const auto got = y.download<float>();
        for (int b = 0; b < blocks; b++) {
            double s = 0;
            for (int i = 0; i < 256; i++) s += in[b * 256 + i];
            CHECK(fabs(got[b] - s) < 1e-2);
        }
    }
    med2e3_emu_configure("schedule", "forward");

    std::vector<int> xs(64);
    for (int i = 0; i < 64; i++) xs[i] = (i % 3 == 0) ? 1 : (i < 32 ? 0 : 1);
    Buffer xv(64 * 4), ballots(2 * 4), counts(6 * 4);
    xv.upload(xs);
    CHECK(run("votes", 1, 64, 0, {&xv.ptr, &ballots.ptr, &counts.ptr}) == 0);
    const auto b = ballots.download<unsigned>();
    const auto c = counts.download<int>();
    unsigned want0 = 0, want1 = 0;
    int total = 0;
    for (int i = 0; i < 32; i++) {
        want0 |= (unsigned)(xs[i] > 0) << i;
        want1 |= (unsigned)(xs[32 + i] > 0) << i;
    }
    for (int v : xs) total += v > 0;
    CHECK(b[0] == want0 && b[1] == want1);
    CHECK(c[0] == 1 && c[1] == 0 && c[2] == total && c[3] == 1 && c[4] == 1 && c[5] == total);

    std::vector<int> lanes(32);
    for (int i = 0; i < 32; i++) lanes[i] = 100 + i;
    Buffer sx(32 * 4), sy(128 * 4);
    sx.upload(lanes);
    CHECK(run("shuffles", 1, 32, 0, {&sx.ptr, &sy.ptr}) == 0);
    const auto sh = sy.download<int>();
    bool ok = true;
    for (int l = 0; l < 32; l++) {
        const int seg = l & ~15;
        ok = ok && sh[4 * l] == 107;                                          // idx 7
        ok = ok && sh[4 * l + 1] == (l >= 3 ? 100 + l - 3 : 100 + l);         // up 3
        ok = ok && sh[4 * l + 2] == (l + 5 < seg + 16 ? 100 + l + 5 : 100 + l);  // down 5, width 16
        ok = ok && sh[4 * l + 3] == 100 + (l ^ 9);                            // xor 9
    }
    CHECK(ok);

    Buffer f(4), u(8), d(8);
    cuMemsetD32Async(f.ptr, 0, 1, g_stream);
    cuMemsetD32Async(u.ptr, 0, 2, g_stream);
    cuMemsetD32Async(d.ptr, 0, 2, g_stream);
    CHECK(run("atomics", 40, 256, 0, {&f.ptr, &u.ptr, &d.ptr}) == 0);
    CHECK(f.download<float>()[0] == 10240.0f);
    const auto uu = u.download<unsigned>();
    CHECK(uu[0] == 10240u && uu[1] == 10239u);
    CHECK(d.download<double>()[0] == 5120.0);
    printf("  block_sum under three schedules, votes, __syncthreads_count, shuffles and atomics: as CUDA defines them\n");
}

// A header may declare shared memory and define kernels (the tensor-core probe includes attention.cu this way):
// both are rewritten and registered; a device function nothing provides is a compile error, not a load error.
void headers() {
    const std::string header = R"(
        extern "C" __global__ void from_header(float* y) {
            extern __shared__ float dyn[];
            __shared__ float twice[64];
            dyn[threadIdx.x] = (float)threadIdx.x;
            twice[threadIdx.x] = 2.0f * dyn[threadIdx.x];
            __syncthreads();
            y[threadIdx.x] = twice[63 - threadIdx.x];
        })";
    std::string log;
    void* m = compile("main.cu", "#include \"inc.cuh\"\n", {{"inc.cuh", header}}, &log);
    CHECK(m != nullptr);
    if (!m) {
        fprintf(stderr, "%s\n", log.c_str());
        return;
    }
    void* f = nullptr;
    CHECK(cuModuleGetFunction(&f, m, "from_header") == 0);
    Buffer y(64 * 4);
    void* args[] = {&y.ptr};
    CHECK(cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 64 * 4, g_stream, args, nullptr) == 0);
    CHECK(cuStreamSynchronize(g_stream) == 0);
    const auto got = y.download<float>();
    bool ok = true;
    for (int i = 0; i < 64; i++) ok = ok && got[i] == 2.0f * (63 - i);
    CHECK(ok);
    printf("  a kernel with shared memory defined in an included header: registered and correct\n");

    void* bad = compile("undefined.cu", "__device__ float missing(float);\n"
                                        "extern \"C\" __global__ void k(float* y) { y[0] = missing(y[0]); }\n",
                        {}, &log);
    printf("  a device function nobody defines: %s", log.c_str());
    CHECK(bad == nullptr && contains(log, "undefined symbol"));
}

// Module images: a real CUBIN or PTX is refused with a clear error; an image made against another device header
// (a stale kernel cache) is compiled again from the inputs it carries; NVRTC reports a version no real one has.
void images() {
    const unsigned char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    void* m = nullptr;
    int r = cuModuleLoadData(&m, elf);
    printf("  a CUBIN of a GPU: %s\n", error_text(r).c_str());
    CHECK(r == 200 && contains(error_text(r), "a CUBIN of a real GPU cannot run on the emulated device"));
    r = cuModuleLoadData(&m, ".version 8.0\n.target sm_80\n");
    CHECK(r == 218);

    const char* src = "extern \"C\" __global__ void twice(float* y) { y[threadIdx.x] *= 2.0f; }\n";
    void* prog;
    nvrtcCreateProgram(&prog, src, "twice.cu", 0, nullptr, nullptr);
    const char* opts[] = {"--gpu-architecture=sm_80"};
    CHECK(nvrtcCompileProgram(prog, 1, opts) == 0);
    size_t n;
    nvrtcGetCUBINSize(prog, &n);
    std::vector<char> image(n);
    nvrtcGetCUBIN(prog, image.data());
    nvrtcDestroyProgram(&prog);
    CHECK(memcmp(image.data(), "M2E3EMU", 8) == 0);
    memset(image.data() + 88, '0', 64);  // the hash of the device header it was compiled against
    m = nullptr;
    r = cuModuleLoadData(&m, image.data());
    void* f = nullptr;
    CHECK(r == 0 && cuModuleGetFunction(&f, m, "twice") == 0);
    Buffer y(32 * 4);
    std::vector<float> ones(32, 1.5f);
    y.upload(ones);
    void* args[] = {&y.ptr};
    CHECK(f && cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, g_stream, args, nullptr) == 0);
    CHECK(y.download<float>() == std::vector<float>(32, 3.0f));
    printf("  an image built against another device header: compiled again from its inputs, and runs\n");

    CHECK(cuModuleLoadData(&m, "bad option") != 0);
    nvrtcCreateProgram(&prog, src, "twice.cu", 0, nullptr, nullptr);
    const char* bad[] = {"--no-such-option"};
    CHECK(nvrtcCompileProgram(prog, 1, bad) == 5);  // NVRTC_ERROR_INVALID_OPTION
    nvrtcDestroyProgram(&prog);
    int major = 0, minor = 0;
    nvrtcVersion(&major, &minor);
    CHECK(major == 99 && minor == 0);
}

// cp.async: the destination is undefined from the issue until the issuing thread waits for its group, so reading it
// after a barrier without cp.async.wait_group sees the poison; wait_group N leaves the N newest groups in flight; a
// src-size of 0 fills zeros; a misaligned destination is refused.
void async_copies() {
    fresh_context();
    const int n = 512;
    const auto in = iota(n);
    Buffer x(n * 4), y(256 * 4);
    x.upload(in);
    CHECK(run("async_nowait", 1, 64, 0, {&x.ptr, &y.ptr}) == 0);
    auto got = y.download<float>();
    int nans = 0;
    for (float v : got) nans += isnan(v);
    printf("  read after a barrier without cp.async.wait_group: %d of 256 values are NaN (the poison)\n", nans);
    CHECK(nans == 256);

    int full_below = 48;
    CHECK(run("async_wait", 1, 64, 0, {&x.ptr, &y.ptr, &full_below}) == 0);
    got = y.download<float>();
    bool ok = true;
    for (int i = 0; i < 256; i++) {
        const int src = (i + 4) & 255;  // the element this output read; threads ≥ 48 copied zeros
        ok = ok && got[i] == (src / 4 < full_below ? in[src] : 0.0f);
    }
    CHECK(ok);
    printf("  waited for: every value as copied, src-size 0 gives zeros\n");

    Buffer z(192 * 4);
    CHECK(run("async_groups", 1, 64, 0, {&x.ptr, &z.ptr}) == 0);
    const auto g = z.download<float>();
    int first = 0, second = 0, later = 0;
    for (int t = 0; t < 64; t++) {
        first += g[t] == in[4 * t];
        second += isnan(g[64 + t]);
        later += g[128 + t] == in[256 + 4 * t];
    }
    printf("  wait_group 1 after two groups: %d of 64 from the older group landed, %d of the newer still poison; "
           "after wait_group 0: %d landed\n", first, second, later);
    CHECK(first == 64 && second == 64 && later == 64);

    fresh_context();
    Buffer x2(n * 4), y2(64 * 4);
    x2.upload(in);
    const int r = run("async_misaligned", 1, 64, 0, {&x2.ptr, &y2.ptr});
    printf("  a 16-byte copy to a 4-byte aligned address: %s\n", error_text(r).c_str());
    CHECK(r == 716 && contains(error_text(r), "both addresses must be 16-byte aligned"));
    fresh_context();
}

const std::vector<std::pair<const char*, std::function<void()>>> kCases = {
    {"missing_sync", missing_sync},       {"off_by_one", off_by_one},         {"struct_mismatch", struct_mismatch},
    {"shared_overflow", shared_overflow}, {"uninitialised", uninitialised},   {"partial_warp", partial_warp},
    {"early_return", early_return},       {"launch_limits", launch_limits},   {"use_after_free", use_after_free},
    {"deferred_streams", deferred_streams}, {"faults", faults},               {"collectives", collectives},
    {"headers", headers},                 {"images", images},                 {"async_copies", async_copies},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: emu_selftest CASE | list\n");
        return 2;
    }
    if (!strcmp(argv[1], "list")) {
        for (const auto& c : kCases) printf("%s\n", c.first);
        return 0;
    }
    med2e3_emu_configure("quiet", "1");
    cuInit(0);
    fresh_context();
    cuStreamCreate(&g_stream, 1);
    g_module = load("planted.cu");
    for (const auto& c : kCases) {
        if (strcmp(c.first, argv[1])) continue;
        printf("%s\n", c.first);
        c.second();
        printf("%s: %s\n", c.first, g_failures ? "FAILED" : "passed");
        return g_failures ? 1 : 0;
    }
    fprintf(stderr, "no case %s\n", argv[1]);
    return 2;
}
