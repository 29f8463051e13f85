// emu.h — the emulator's internal interfaces, shared by the driver, NVRTC and cuBLAS entry points and the block
// executor. Nothing here is exported; the exported C ABI lives in driver.cpp, streams.cpp, nvrtc.cpp and blas.cpp.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <string>
#include <vector>

#define MED2E3_EMU_RUNTIME 1  // the executor side of the device header: no module symbols
#include "../include/med2e3_emu.h"

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace emu {

// ---- CUDA driver result codes (the subset the emulator returns) -------------------------------------------------
enum Result : int {
    OK = 0,
    INVALID_VALUE = 1,
    OUT_OF_MEMORY = 2,
    NOT_INITIALIZED = 3,
    INVALID_DEVICE = 101,
    INVALID_IMAGE = 200,
    INVALID_CONTEXT = 201,
    INVALID_PTX = 218,
    INVALID_SOURCE = 300,
    FILE_NOT_FOUND = 301,
    SHARED_OBJECT_INIT_FAILED = 303,
    OPERATING_SYSTEM = 304,
    INVALID_HANDLE = 400,
    NOT_FOUND = 500,
    NOT_READY = 600,
    ILLEGAL_ADDRESS = 700,
    LAUNCH_OUT_OF_RESOURCES = 701,
    ASSERT = 710,
    ILLEGAL_INSTRUCTION = 715,
    MISALIGNED_ADDRESS = 716,
    LAUNCH_FAILED = 719,
    NOT_SUPPORTED = 801,
    STREAM_CAPTURE_UNSUPPORTED = 900,
    STREAM_CAPTURE_INVALIDATED = 901,
    STREAM_CAPTURE_UNMATCHED = 903,
    STREAM_CAPTURE_IMPLICIT = 906,
    UNKNOWN = 999,
};

// ---- configuration, read once from the environment (config.cpp) -------------------------------------------------
enum class Schedule { Forward, Reverse, Random };
struct Config {
    Schedule schedule = Schedule::Forward;  // MED2E3_EMU_SCHEDULE=forward|reverse|random[:SEED]
    uint64_t seed = 1;
    int workers = 1;                // MED2E3_EMU_WORKERS (default: the CPUs this process may use)
    bool deferred = false;          // MED2E3_EMU_STREAMS=deferred: work runs only at synchronisation points
    bool strict = true;             // MED2E3_EMU_STRICT=0 turns the barrier and warp-mask diagnostics off
    bool quiet = false;             // MED2E3_EMU_QUIET=1: no diagnostics on stderr (the error strings keep them)
    size_t total_memory = 8ull << 30;  // MED2E3_EMU_MEMORY_MIB
    size_t alloc_align = 256;       // MED2E3_EMU_ALLOC_ALIGN: start alignment of cuMemAlloc (power of two, ≥ 4)
    size_t quarantine_bytes = 1ull << 30;  // MED2E3_EMU_QUARANTINE_MIB: freed memory kept inaccessible
    size_t stack_bytes = 64 << 10;  // MED2E3_EMU_STACK_KIB: stack of each emulated thread
    std::string cache_dir;          // MED2E3_EMU_CACHE, else $MED2E3_CACHE_DIR/emulator, else ~/.cache/med2e3/emulator
    std::string cxx;                // MED2E3_EMU_CXX (default g++)
    std::string cxxflags;           // MED2E3_EMU_CXXFLAGS: appended to the compile command (e.g. "-O0 -g")
};
const Config& config();
std::string schedule_name();

// ---- diagnostics -------------------------------------------------------------------------------------------------
void log_line(const std::string& line);  // "med2e3-emu: …" on stderr unless quiet
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The context-wide error state. A kernel fault, a failed check inside a launch, or a failed device-side assert is
// sticky, as on a GPU: every later call that needs the context returns it until the primary context is released.
Result sticky_error();
const char* sticky_message();
void set_sticky(Result code, const std::string& message);
void clear_sticky();
// The detail of the last error returned on this thread, shown by cuGetErrorString for that code.
Result fail(Result code, const std::string& detail);
const char* last_detail(Result code);

// ---- poison and guard bytes (memory.cpp) ----------------------------------------------------------------------------
// Memory nobody wrote holds 0xFF bytes: NaN as f32, bf16 and f16. The slack after an allocation, the red zone after a
// __shared__ variable and the slack after the dynamic shared memory hold a guard pattern instead, also NaN in every
// aligned f32, bf16 and f16 word but distinct from the poison and tagged per area (the little-endian u16 0xFF80|tag,
// tag 1 … 126), so that even a copy of poison, or of another area's guard bytes, into it is seen.
constexpr unsigned char kPoison = 0xFF;
void fill_guard(void* p, size_t n, unsigned tag);
// The offset of the first byte of [p, p + n) that is not the guard pattern of `tag`, or n.
size_t check_guard(const void* p, size_t n, unsigned tag);

// ---- device memory (memory.cpp) ----------------------------------------------------------------------------------
Result mem_alloc(uint64_t* out, size_t bytes);
Result mem_free(uint64_t ptr);
void mem_info(size_t* free_bytes, size_t* total_bytes);
// True when [ptr, ptr + bytes) lies inside one live allocation; otherwise *why says what is wrong with the range.
bool mem_check_range(uint64_t ptr, size_t bytes, std::string* why);
// What an address is: inside or just past a live allocation, in a freed one, a null pointer, …
std::string mem_describe(uint64_t addr);
// Writes into the slack between an allocation's end and its guard page since the last check (0 when none).
int mem_check_slack(std::string* report);
Result host_alloc(void** out, size_t bytes);
Result host_free(void* p);
bool host_is_pinned(const void* p, size_t bytes);

// ---- modules and kernels (driver.cpp) ------------------------------------------------------------------------------
struct Module;
struct Kernel {
    const KernelDesc* desc;
    Module* module;
    std::string name;
    int max_dynamic_smem;        // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    int static_smem = 0;         // static __shared__ bytes seen so far (known after the first block ran)
    bool valid = true;           // false once the module is unloaded
};

// ---- the block executor (executor.cpp) -------------------------------------------------------------------------------
struct LaunchSpec {
    Kernel* kernel;
    dim3 grid, block;
    size_t dynamic_smem;
    std::vector<unsigned char> blob;  // the arguments, laid out as the kernel's trampoline reads them
};
// Runs every block of the grid on the worker threads. Returns OK, or the sticky error of the first fault or failed
// check, with the diagnostic (kernel, block, thread, what) in *message.
Result execute_launch(const LaunchSpec& spec, std::string* message);
// Runs body(worker, begin, end) over [0, n) in chunks on the worker threads with faults caught; `what` names the
// operation in a fault message (a cuBLAS call).
Result run_parallel(int64_t n, int64_t chunk, const char* what,
                    const std::function<void(int64_t, int64_t)>& body, std::string* message);
int worker_count();
void install_fault_handlers();

// ---- streams (streams.cpp) -----------------------------------------------------------------------------------------
struct Stream;
Stream* resolve_stream(void* handle);  // 0 / CU_STREAM_LEGACY / CU_STREAM_PER_THREAD are the default stream
// Queues `run` on the stream: runs it now (immediate mode), records it (deferred mode), or adds it to the graph being
// captured. `what` names the operation in messages.
Result enqueue(Stream* s, std::string what, std::function<Result()> run);
Result sync_all();
Result stream_sync(Stream* s);  // runs everything queued on s
bool stream_is_capturing(Stream* s);

// ---- NVRTC (nvrtc.cpp) and the module images it makes (module_image.cpp) --------------------------------------------
extern const char* const kHeaderText;  // include/med2e3_emu.h, embedded at build time
extern const size_t kHeaderSize;
std::string header_hash();
struct CompileInputs;
struct CompiledModule {
    std::string so_path;  // the shared object in the emulator's cache
    std::string key;      // its compile key (hex SHA-256)
    std::string log;      // the compiler's messages
};
// Compiles a kernel source (or finds it in the emulator's cache, keyed on the compiler, the device header, the options
// and the sources). False with the reason in out->log when it does not compile or does not load.
bool compile_module(const CompileInputs& in, CompiledModule* out);
void export_runtime_symbols();  // so that modules resolve the device functions against this library
const std::string& module_cache_dir();  // <cache>/modules

// ---- hashing -------------------------------------------------------------------------------------------------------
std::string sha256_hex(const void* data, size_t n);
struct Sha256 {
    uint32_t h[8];
    uint64_t bytes = 0;
    unsigned char buf[64];
    size_t fill = 0;
    Sha256();
    void add(const void* data, size_t n);
    void add_field(const char* label, const std::string& value);  // length-prefixed, so fields cannot run together
    std::string hex();
};

}  // namespace emu
