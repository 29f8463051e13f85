// driver.cpp — the CUDA driver API of the emulated device: initialisation, the device and its attributes, the
// primary context, memory, modules and kernel launches, error names and strings.
//
// The device is a plausible sm_80 part (108 SMs, 48 KiB of shared memory per block, 163 KiB opt-in, 40 MiB of L2),
// so the grids the backend computes from its attributes are those of a real A100. Every launch is checked as the
// driver checks it (block and grid limits, __launch_bounds__, dynamic shared memory against the function's limit)
// before it is queued; faults and failed checks while it runs become the context's sticky error.
#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "emu.h"
#include "module_image.h"

namespace emu {

struct Module {
    void* handle = nullptr;
    std::string path;
    std::map<std::string, std::unique_ptr<Kernel>> kernels;
};

namespace {

constexpr int kSharedPerBlock = 48 << 10;
constexpr int kSharedOptin = 163 << 10;
constexpr int kNominalRegisters = 32;  // the emulated device has no register file; a plausible count for reports
const char kDeviceName[] = "Med2E3 emulated CUDA device (kernels run on the CPU)";

std::atomic<bool> g_initialised{false};
std::mutex g_ctx_mu;
int g_ctx_refs = 0;
int g_ctx_token;  // the primary context handle is its address

Result ready() {
    if (!g_initialised.load(std::memory_order_acquire)) return fail(NOT_INITIALIZED, "cuInit has not been called");
    return sticky_error();
}

// ---- error names and strings -------------------------------------------------------------------------------------
struct ErrorText {
    int code;
    const char* name;
    const char* text;
};
const ErrorText kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {300, "CUDA_ERROR_INVALID_SOURCE", "device kernel image is invalid"},
    {301, "CUDA_ERROR_FILE_NOT_FOUND", "file not found"},
    {303, "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED", "shared object initialization failed"},
    {304, "CUDA_ERROR_OPERATING_SYSTEM", "OS call failed or operation not supported on this OS"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {710, "CUDA_ERROR_ASSERT", "device-side assert triggered"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", "capture was not initiated in this stream"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", "operation would make the legacy stream depend on a capturing blocking stream"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};
const ErrorText* error_text(int code) {
    for (const ErrorText& e : kErrors)
        if (e.code == code) return &e;
    return nullptr;
}

// ---- modules ---------------------------------------------------------------------------------------------------------
std::mutex g_mod_mu;

bool write_file_atomically(const std::string& path, const void* data, size_t n) {
    const std::string tmp = format("%s.%d.tmp", path.c_str(), (int)getpid());
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return false;
    const char* p = (const char*)data;
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w <= 0) {
            close(fd);
            unlink(tmp.c_str());
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return rename(tmp.c_str(), path.c_str()) == 0;
}

// The shared object of an image, as a file the loader (and a debugger) can open.
Result image_to_path(const unsigned char* image, std::string* path) {
    ImageHeader h;
    memcpy(&h, image, sizeof h);
    if (h.format != 1 || h.total < sizeof h || h.elf_offset + h.elf_bytes > h.total ||
        h.inputs_offset + h.inputs_bytes > h.total)
        return fail(INVALID_IMAGE, "cuModuleLoadData: a damaged emulator module image");
    const std::string key(h.key, 64), hh(h.header_hash, 64);
    if (h.abi == MED2E3_EMU_ABI && hh == header_hash()) {
        const std::string cached = module_cache_dir() + "/" + key + "/module.so";
        struct stat st;
        if (stat(cached.c_str(), &st) == 0 && (uint64_t)st.st_size == h.elf_bytes) {
            *path = cached;
            return OK;
        }
        // From a kernel cache of another machine or a cleared emulator cache: store the ELF under its own hash.
        const unsigned char* elf = image + h.elf_offset;
        const std::string dir = module_cache_dir() + "/images";
        mkdir(module_cache_dir().c_str(), 0755);
        mkdir(dir.c_str(), 0755);
        *path = dir + "/" + sha256_hex(elf, h.elf_bytes) + ".so";
        if (stat(path->c_str(), &st) != 0 && !write_file_atomically(*path, elf, h.elf_bytes))
            return fail(OPERATING_SYSTEM, "cuModuleLoadData: cannot write " + *path);
        return OK;
    }
    // Built against another device header or executor: compile the stored inputs again.
    CompileInputs in;
    if (!deserialize_inputs((const char*)image + h.inputs_offset, h.inputs_bytes, &in))
        return fail(INVALID_IMAGE, "cuModuleLoadData: a damaged emulator module image");
    CompiledModule m;
    if (!compile_module(in, &m))
        return fail(INVALID_IMAGE, "cuModuleLoadData: recompiling " + in.name + " for this emulator failed:\n" + m.log);
    *path = m.so_path;
    return OK;
}

Kernel* as_kernel(void* f) {
    Kernel* k = (Kernel*)f;
    return k && k->valid ? k : nullptr;
}

}  // namespace

// Makes this library's symbols (the device functions kernels call) visible to the modules it loads, whatever way it
// was loaded itself (the .NET runtime loads it RTLD_LOCAL).
void export_runtime_symbols() {
    static std::once_flag once;
    std::call_once(once, [] {
        Dl_info info;
        if (dladdr((void*)&export_runtime_symbols, &info) && info.dli_fname)
            dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    });
}

// ---- initialisation and the device ---------------------------------------------------------------------------------
EMU_EXPORT int cuInit(unsigned flags) {
    if (flags != 0) return fail(INVALID_VALUE, "cuInit: flags must be 0");
    install_fault_handlers();
    g_initialised.store(true, std::memory_order_release);
    return OK;
}

EMU_EXPORT int cuDriverGetVersion(int* v) {
    if (!v) return INVALID_VALUE;
    *v = 12080;  // the API level the emulator implements (CUDA 12.8 names and semantics)
    return OK;
}

EMU_EXPORT int cuGetErrorName(int code, const char** s) {
    if (!s) return INVALID_VALUE;
    const ErrorText* e = error_text(code);
    *s = e ? e->name : nullptr;
    return e ? OK : INVALID_VALUE;
}

EMU_EXPORT int cuGetErrorString(int code, const char** s) {
    if (!s) return INVALID_VALUE;
    const ErrorText* e = error_text(code);
    if (!e) {
        *s = nullptr;
        return INVALID_VALUE;
    }
    // The sticky error and the last error of this thread carry what the emulator found (kernel, block, thread, …).
    static thread_local std::string text[4];
    static thread_local int next = 0;
    const char* detail = sticky_error() == code ? sticky_message() : last_detail((Result)code);
    if (!detail || !*detail) {
        *s = e->text;
        return OK;
    }
    std::string& t = text[next++ & 3];
    t = std::string(e->text) + ": " + detail;
    *s = t.c_str();
    return OK;
}

EMU_EXPORT int cuDeviceGetCount(int* n) {
    if (!n) return INVALID_VALUE;
    if (Result r = ready()) return r == NOT_INITIALIZED ? r : (*n = 1, OK);
    *n = 1;
    return OK;
}

EMU_EXPORT int cuDeviceGet(int* d, int ordinal) {
    if (!d) return INVALID_VALUE;
    if (ordinal != 0) return fail(INVALID_DEVICE, format("cuDeviceGet(%d): the emulator has one device", ordinal));
    *d = 0;
    return OK;
}

EMU_EXPORT int cuDeviceGetName(char* name, int len, int dev) {
    if (!name || len <= 0 || dev != 0) return INVALID_VALUE;
    strncpy(name, kDeviceName, (size_t)len);
    name[len - 1] = 0;
    return OK;
}

EMU_EXPORT int cuDeviceGetAttribute(int* v, int attr, int dev) {
    if (!v || dev != 0) return INVALID_VALUE;
    switch (attr) {
        case 1: *v = 1024; break;                 // MAX_THREADS_PER_BLOCK
        case 2: case 3: *v = 1024; break;         // MAX_BLOCK_DIM_X, Y
        case 4: *v = 64; break;                   // MAX_BLOCK_DIM_Z
        case 5: *v = 2147483647; break;           // MAX_GRID_DIM_X
        case 6: case 7: *v = 65535; break;        // MAX_GRID_DIM_Y, Z
        case 8: *v = kSharedPerBlock; break;      // MAX_SHARED_MEMORY_PER_BLOCK
        case 9: *v = 65536; break;                // TOTAL_CONSTANT_MEMORY
        case 10: *v = 32; break;                  // WARP_SIZE
        case 11: *v = 2147483647; break;          // MAX_PITCH
        case 12: *v = 65536; break;               // MAX_REGISTERS_PER_BLOCK
        case 13: *v = 1410000; break;             // CLOCK_RATE (kHz)
        case 14: *v = 512; break;                 // TEXTURE_ALIGNMENT
        case 15: *v = 1; break;                   // GPU_OVERLAP
        case 16: *v = 108; break;                 // MULTIPROCESSOR_COUNT: an A100's; not a power of two (DESIGN.md)
        case 17: *v = 0; break;                   // KERNEL_EXEC_TIMEOUT
        case 18: *v = 0; break;                   // INTEGRATED
        case 19: *v = 1; break;                   // CAN_MAP_HOST_MEMORY
        case 20: *v = 0; break;                   // COMPUTE_MODE
        case 31: *v = 1; break;                   // CONCURRENT_KERNELS
        case 32: *v = 0; break;                   // ECC_ENABLED
        case 33: case 34: case 50: *v = 0; break; // PCI bus, device, domain
        case 35: *v = 0; break;                   // TCC_DRIVER
        case 36: *v = 1215000; break;             // MEMORY_CLOCK_RATE (kHz)
        case 37: *v = 5120; break;                // GLOBAL_MEMORY_BUS_WIDTH
        case 38: *v = 40 << 20; break;            // L2_CACHE_SIZE
        case 39: *v = 2048; break;                // MAX_THREADS_PER_MULTIPROCESSOR
        case 40: *v = 2; break;                   // ASYNC_ENGINE_COUNT
        case 41: *v = 1; break;                   // UNIFIED_ADDRESSING
        case 75: *v = 8; break;                   // COMPUTE_CAPABILITY_MAJOR
        case 76: *v = 0; break;                   // COMPUTE_CAPABILITY_MINOR
        case 81: *v = 164 << 10; break;           // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
        case 82: *v = 65536; break;               // MAX_REGISTERS_PER_MULTIPROCESSOR
        case 83: *v = 1; break;                   // MANAGED_MEMORY
        case 84: *v = 0; break;                   // MULTI_GPU_BOARD
        case 86: *v = 2; break;                   // SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO
        case 97: *v = kSharedOptin; break;        // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
        case 106: *v = 32; break;                 // MAX_BLOCKS_PER_MULTIPROCESSOR
        default: return fail(INVALID_VALUE, format("cuDeviceGetAttribute(%d): not reported by the emulator", attr));
    }
    return OK;
}

EMU_EXPORT int cuDeviceTotalMem_v2(size_t* bytes, int dev) {
    if (!bytes || dev != 0) return INVALID_VALUE;
    *bytes = config().total_memory;
    return OK;
}

// ---- the primary context -------------------------------------------------------------------------------------------
EMU_EXPORT int cuDevicePrimaryCtxRetain(void** ctx, int dev) {
    if (!ctx) return INVALID_VALUE;
    if (dev != 0) return INVALID_DEVICE;
    if (!g_initialised.load()) return NOT_INITIALIZED;
    std::lock_guard<std::mutex> g(g_ctx_mu);
    g_ctx_refs++;
    *ctx = &g_ctx_token;
    return OK;
}

EMU_EXPORT int cuDevicePrimaryCtxRelease_v2(int dev) {
    if (dev != 0) return INVALID_DEVICE;
    std::lock_guard<std::mutex> g(g_ctx_mu);
    if (g_ctx_refs == 0) return fail(INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: the context is not retained");
    if (--g_ctx_refs == 0) {
        // The context is destroyed: queued work is finished and a sticky error no longer applies.
        sync_all();
        clear_sticky();
    }
    return OK;
}

EMU_EXPORT int cuCtxSetCurrent(void* ctx) {
    if (ctx && ctx != &g_ctx_token) return fail(INVALID_CONTEXT, "cuCtxSetCurrent: not the primary context");
    return OK;
}

EMU_EXPORT int cuCtxGetCurrent(void** ctx) {
    if (!ctx) return INVALID_VALUE;
    *ctx = g_ctx_refs > 0 ? &g_ctx_token : nullptr;
    return OK;
}

EMU_EXPORT int cuCtxSynchronize() {
    if (Result r = ready()) return r;
    return sync_all();
}

// ---- memory --------------------------------------------------------------------------------------------------------
EMU_EXPORT int cuMemAlloc_v2(uint64_t* p, size_t bytes) {
    if (!p) return INVALID_VALUE;
    if (Result r = ready()) return r;
    return mem_alloc(p, bytes);
}

EMU_EXPORT int cuMemFree_v2(uint64_t p) {
    // cuMemFree synchronises with the device; after a fault it still releases the memory, so that cleanup code on
    // the host can run (the error itself stays sticky).
    sync_all();
    return mem_free(p);
}

EMU_EXPORT int cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
    if (!free_bytes || !total_bytes) return INVALID_VALUE;
    if (Result r = ready()) return r;
    mem_info(free_bytes, total_bytes);
    return OK;
}

EMU_EXPORT int cuMemHostAlloc(void** p, size_t bytes, unsigned flags) {
    (void)flags;
    if (!p) return INVALID_VALUE;
    if (Result r = ready()) return r;
    return host_alloc(p, bytes);
}

EMU_EXPORT int cuMemFreeHost(void* p) { return host_free(p); }

namespace {

Result check_device(const char* call, const char* which, uint64_t ptr, size_t bytes) {
    std::string why;
    if (mem_check_range(ptr, bytes, &why)) return OK;
    return fail(INVALID_VALUE, format("%s: %s %s", call, which, why.c_str()));
}

}  // namespace

EMU_EXPORT int cuMemcpyHtoDAsync_v2(uint64_t dst, const void* src, size_t n, void* stream) {
    if (Result r = ready()) return r;
    if (n == 0) return OK;
    if (Result r = check_device("cuMemcpyHtoDAsync", "destination", dst, n)) return r;
    Stream* s = resolve_stream(stream);
    if (host_is_pinned(src, n))
        return enqueue(s, "cuMemcpyHtoDAsync", [dst, src, n] {
            memcpy((void*)(uintptr_t)dst, src, n);
            return OK;
        });
    if (stream_is_capturing(s))
        return fail(STREAM_CAPTURE_UNSUPPORTED, "cuMemcpyHtoDAsync from pageable host memory inside a graph capture");
    // Pageable memory is staged before the call returns, as CUDA does: the caller may reuse it at once.
    auto staged = std::make_shared<std::vector<unsigned char>>((const unsigned char*)src,
                                                               (const unsigned char*)src + n);
    return enqueue(s, "cuMemcpyHtoDAsync", [dst, staged] {
        memcpy((void*)(uintptr_t)dst, staged->data(), staged->size());
        return OK;
    });
}

EMU_EXPORT int cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void* stream) {
    if (Result r = ready()) return r;
    if (n == 0) return OK;
    if (Result r = check_device("cuMemcpyDtoHAsync", "source", src, n)) return r;
    Stream* s = resolve_stream(stream);
    const bool pinned = host_is_pinned(dst, n);
    if (!pinned && stream_is_capturing(s))
        return fail(STREAM_CAPTURE_UNSUPPORTED, "cuMemcpyDtoHAsync to pageable host memory inside a graph capture");
    if (Result r = enqueue(s, "cuMemcpyDtoHAsync", [dst, src, n] {
            memcpy(dst, (const void*)(uintptr_t)src, n);
            return OK;
        }))
        return r;
    // A copy into pageable memory returns once the data is there (CUDA stages it through a pinned buffer).
    return pinned ? OK : stream_sync(s);
}

EMU_EXPORT int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void* stream) {
    if (Result r = ready()) return r;
    if (n == 0) return OK;
    if (Result r = check_device("cuMemcpyDtoDAsync", "source", src, n)) return r;
    if (Result r = check_device("cuMemcpyDtoDAsync", "destination", dst, n)) return r;
    return enqueue(resolve_stream(stream), "cuMemcpyDtoDAsync", [dst, src, n] {
        memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n);
        return OK;
    });
}

EMU_EXPORT int cuMemsetD8Async(uint64_t dst, unsigned char value, size_t n, void* stream) {
    if (Result r = ready()) return r;
    if (n == 0) return OK;
    if (Result r = check_device("cuMemsetD8Async", "destination", dst, n)) return r;
    return enqueue(resolve_stream(stream), "cuMemsetD8Async", [dst, value, n] {
        memset((void*)(uintptr_t)dst, value, n);
        return OK;
    });
}

EMU_EXPORT int cuMemsetD32Async(uint64_t dst, unsigned value, size_t n, void* stream) {
    if (Result r = ready()) return r;
    if (n == 0) return OK;
    if (dst & 3) return fail(INVALID_VALUE, format("cuMemsetD32Async: 0x%llx is not 4-byte aligned",
                                                   (unsigned long long)dst));
    if (Result r = check_device("cuMemsetD32Async", "destination", dst, n * 4)) return r;
    return enqueue(resolve_stream(stream), "cuMemsetD32Async", [dst, value, n] {
        unsigned* p = (unsigned*)(uintptr_t)dst;
        for (size_t i = 0; i < n; i++) p[i] = value;
        return OK;
    });
}

// ---- modules ---------------------------------------------------------------------------------------------------------
EMU_EXPORT int cuModuleLoadData(void** out, const void* image) {
    if (!out || !image) return INVALID_VALUE;
    if (Result r = ready()) return r;
    const unsigned char* p = (const unsigned char*)image;
    if (memcmp(p, kImageMagic, sizeof kImageMagic) != 0) {
        if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F')
            return fail(INVALID_IMAGE, "cuModuleLoadData: a CUBIN of a real GPU cannot run on the emulated device "
                                       "(compile the kernel with the emulator's NVRTC)");
        return fail(INVALID_PTX, "cuModuleLoadData: the emulated device runs only images made by its own NVRTC "
                                 "(this looks like PTX or other data)");
    }
    std::string path;
    if (Result r = image_to_path(p, &path)) return r;
    export_runtime_symbols();
    std::lock_guard<std::mutex> g(g_mod_mu);
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return fail(SHARED_OBJECT_INIT_FAILED, format("cuModuleLoadData: %s", dlerror()));
    auto* describe = (const ModuleDesc* (*)())dlsym(h, "med2e3_emu_module");
    const ModuleDesc* md = describe ? describe() : nullptr;
    if (!md || md->abi != MED2E3_EMU_ABI) {
        dlclose(h);
        return fail(INVALID_IMAGE, "cuModuleLoadData: " + path + " is not a module of this emulator");
    }
    Module* m = new Module();
    m->handle = h;
    m->path = path;
    for (int i = 0; i < md->count; i++) {
        auto k = std::make_unique<Kernel>();
        k->desc = md->kernels[i];
        k->module = m;
        k->name = md->kernels[i]->name;
        k->max_dynamic_smem = -1;
        m->kernels[k->name] = std::move(k);
    }
    *out = m;
    return OK;
}

EMU_EXPORT int cuModuleUnload(void* module) {
    Module* m = (Module*)module;
    if (!m) return INVALID_HANDLE;
    sync_all();
    std::lock_guard<std::mutex> g(g_mod_mu);
    // Kernels stay allocated (a stale CUfunction then fails cleanly), and the code stays mapped: a graph may still
    // hold a launch of it.
    for (auto& [name, k] : m->kernels) k->valid = false;
    return OK;
}

EMU_EXPORT int cuModuleGetFunction(void** f, void* module, const char* name) {
    if (!f || !module || !name) return INVALID_VALUE;
    Module* m = (Module*)module;
    std::lock_guard<std::mutex> g(g_mod_mu);
    auto it = m->kernels.find(name);
    if (it == m->kernels.end() || !it->second->valid)
        return fail(NOT_FOUND, format("cuModuleGetFunction: no kernel named %s in the module", name));
    *f = it->second.get();
    return OK;
}

EMU_EXPORT int cuFuncGetAttribute(int* v, int attr, void* f) {
    Kernel* k = as_kernel(f);
    if (!v) return INVALID_VALUE;
    if (!k) return INVALID_HANDLE;
    const int stat = __atomic_load_n(&k->static_smem, __ATOMIC_RELAXED);
    switch (attr) {
        case 0: *v = k->desc->max_threads; break;  // MAX_THREADS_PER_BLOCK: __launch_bounds__, else 1024
        case 1: *v = stat; break;                  // SHARED_SIZE_BYTES: known once the kernel has run
        case 2: *v = 0; break;                     // CONST_SIZE_BYTES
        case 3: *v = 0; break;                     // LOCAL_SIZE_BYTES
        case 4: *v = kNominalRegisters; break;     // NUM_REGS
        case 5: case 6: *v = 80; break;            // PTX_VERSION, BINARY_VERSION
        case 7: *v = 0; break;                     // CACHE_MODE_CA
        case 8: *v = k->max_dynamic_smem >= 0 ? k->max_dynamic_smem : kSharedPerBlock - stat; break;
        case 9: *v = -1; break;                    // PREFERRED_SHARED_MEMORY_CARVEOUT
        default: return fail(INVALID_VALUE, format("cuFuncGetAttribute(%d): not reported by the emulator", attr));
    }
    return OK;
}

EMU_EXPORT int cuFuncSetAttribute(void* f, int attr, int value) {
    Kernel* k = as_kernel(f);
    if (!k) return INVALID_HANDLE;
    if (attr == 8) {  // MAX_DYNAMIC_SHARED_SIZE_BYTES
        const int stat = __atomic_load_n(&k->static_smem, __ATOMIC_RELAXED);
        if (value < 0 || value + stat > kSharedOptin)
            return fail(INVALID_VALUE, format("cuFuncSetAttribute: %d bytes of dynamic shared memory (+%d static) "
                                              "exceed the device's %d opt-in bytes",
                                              value, stat, kSharedOptin));
        k->max_dynamic_smem = value;
        return OK;
    }
    if (attr == 9) return OK;  // the carveout is a hint
    return fail(INVALID_VALUE, format("cuFuncSetAttribute(%d): not modelled by the emulator", attr));
}

// ---- launches --------------------------------------------------------------------------------------------------------
namespace {

int dynamic_limit(const Kernel* k, int stat) { return k->max_dynamic_smem >= 0 ? k->max_dynamic_smem : kSharedPerBlock - stat; }

Result run_launch(const std::shared_ptr<LaunchSpec>& spec) {
    std::string message;
    Result r = execute_launch(*spec, &message);
    Kernel* k = spec->kernel;
    if (r == OK) {
        const int stat = __atomic_load_n(&k->static_smem, __ATOMIC_RELAXED);
        if ((int)spec->dynamic_smem > dynamic_limit(k, stat)) {
            r = LAUNCH_OUT_OF_RESOURCES;
            message = format("%s: %d bytes of static __shared__ and %zu bytes of dynamic shared memory exceed the "
                             "%d bytes a block may use without cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)",
                             k->name.c_str(), stat, spec->dynamic_smem, kSharedPerBlock);
            log_line(message);
        }
    }
    if (r == OK) {
        std::string report;
        if (mem_check_slack(&report)) {
            r = ILLEGAL_ADDRESS;
            message = k->name + ": " + report;
            log_line(message);
        }
    }
    if (r != OK) set_sticky(r, message);
    return r;
}

}  // namespace

EMU_EXPORT int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                              unsigned smem, void* stream, void** params, void** extra) {
    if (Result r = ready()) return r;
    Kernel* k = as_kernel(f);
    if (!k) return fail(INVALID_HANDLE, "cuLaunchKernel: not a function of a loaded module");
    const char* name = k->name.c_str();
    const unsigned long long threads = (unsigned long long)bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || threads == 0)
        return fail(INVALID_VALUE, format("cuLaunchKernel(%s): grid (%u,%u,%u) block (%u,%u,%u) has a zero size",
                                          name, gx, gy, gz, bx, by, bz));
    if (bx > 1024 || by > 1024 || bz > 64 || threads > 1024)
        return fail(INVALID_VALUE, format("cuLaunchKernel(%s): block (%u,%u,%u) exceeds 1024 threads or the "
                                          "per-axis limits (1024, 1024, 64)",
                                          name, bx, by, bz));
    if (gx > 2147483647u || gy > 65535 || gz > 65535)
        return fail(INVALID_VALUE, format("cuLaunchKernel(%s): grid (%u,%u,%u) exceeds (2^31-1, 65535, 65535)", name,
                                          gx, gy, gz));
    if (threads > (unsigned long long)k->desc->max_threads)
        return fail(LAUNCH_OUT_OF_RESOURCES, format("cuLaunchKernel(%s): %llu threads per block, but "
                                                    "__launch_bounds__ allows %d",
                                                    name, threads, k->desc->max_threads));
    const int stat = __atomic_load_n(&k->static_smem, __ATOMIC_RELAXED);
    if ((int)smem > dynamic_limit(k, stat))
        return fail(INVALID_VALUE, format("cuLaunchKernel(%s): %u bytes of dynamic shared memory exceed the "
                                          "function's limit of %d (raise it with cuFuncSetAttribute)",
                                          name, smem, dynamic_limit(k, stat)));
    if (extra) return fail(INVALID_VALUE, format("cuLaunchKernel(%s): the extra argument form is not supported by the "
                                                 "emulator; pass kernelParams",
                                                 name));
    const KernelDesc* d = k->desc;
    if (d->nargs > 0 && !params)
        return fail(INVALID_VALUE, format("cuLaunchKernel(%s): the kernel takes %d arguments but kernelParams is "
                                          "null",
                                          name, d->nargs));
    // When the values sit in one block in parameter order (how KernelArgs and most callers lay them out), the gap
    // to the next value bounds the caller's size of each one: a kernel parameter wider than that is a mismatch
    // between the host's argument and the kernel's signature (an int passed for a long long, a missing field).
    if (config().strict)
        for (int i = 0; i + 1 < d->nargs; i++) {
            const intptr_t gap = (const char*)params[i + 1] - (const char*)params[i];
            if (gap > 0 && gap < 64 && gap < (intptr_t)d->size[i])
                return fail(INVALID_VALUE, format("cuLaunchKernel(%s): parameter %d is %u bytes, but the caller's "
                                                  "value is at most %ld bytes (the next one follows it): the "
                                                  "arguments do not match the kernel's signature",
                                                  name, i, d->size[i], (long)gap));
        }
    auto spec = std::make_shared<LaunchSpec>();
    spec->kernel = k;
    spec->grid = dim3(gx, gy, gz);
    spec->block = dim3(bx, by, bz);
    spec->dynamic_smem = smem;
    // Copied now: the caller's values may be gone when the launch runs (deferred mode, graph replay).
    spec->blob.assign((size_t)d->blob_size + 16, 0);
    for (int i = 0; i < d->nargs; i++) memcpy(spec->blob.data() + d->offset[i], params[i], d->size[i]);
    return enqueue(resolve_stream(stream), std::string("kernel ") + name, [spec] { return run_launch(spec); });
}

// ---- what the emulator is (for `med2e3 info` and tests) ------------------------------------------------------------
EMU_EXPORT const char* med2e3_emu_describe() {
    static std::string text;
    static std::once_flag once;
    std::call_once(once, [] {
        const Config& c = config();
        text = format("libmed2e3emu (native/emulator): schedule %s, %d worker thread%s, %s streams, allocations "
                      "aligned to %zu bytes, %zu MiB of device memory, module cache %s",
                      schedule_name().c_str(), worker_count(), worker_count() == 1 ? "" : "s",
                      c.deferred ? "deferred" : "immediate", c.alloc_align, c.total_memory >> 20,
                      module_cache_dir().c_str());
    });
    return text.c_str();
}

}  // namespace emu
