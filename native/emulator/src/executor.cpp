// executor.cpp — the block executor of the emulated device.
//
// A launch is a grid of blocks pulled by W worker threads; each block runs all of its threads as fibers on one
// worker, warps being lanes 32k … 32k+31 of the linear thread index, as on a GPU. A fiber runs until it reaches
// __syncthreads, a warp collective, or its end; the scheduler then resumes the next runnable fiber in the order of
// MED2E3_EMU_SCHEDULE (forward, reverse, or seeded random), so between two barriers the threads of a block run one
// after the other in that order. A schedule that changes a kernel's output exposes a missing barrier.
//
// What the executor checks, beyond what a GPU reports:
//   * a barrier or warp collective reached after some of the threads it names have returned, or while others wait
//     at a different one (a deadlock on a GPU, or silently wrong);
//   * a warp collective whose mask names lanes that do not exist (a full-mask shuffle in a partial warp);
//   * shared memory: every __shared__ variable and the dynamic shared memory start as 0xFF bytes (NaN as f32, bf16
//     and f16), a red zone after each variable and the slack before the guard page after the dynamic buffer are
//     checked when the block ends, and an access past the dynamic buffer hits the guard page;
//   * a fault (SIGSEGV, SIGBUS, SIGFPE) inside a kernel becomes a sticky CUDA_ERROR_ILLEGAL_ADDRESS naming the kernel,
//     the block, the thread and what the address is; the process lives on;
//   * cp.async: the destination holds the poison from the issue until the issuing thread waits for the copy's group
//     (cp.async.wait_group), so a read before the wait, or by another thread without a barrier after it, or a copy
//     into a buffer that other threads still read, shows up as NaN.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "emu.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {

// ---- per-OS-thread state the kernel code reads (through the functions declared in med2e3_emu.h) ---------------------
static __thread uint3 t_tid, t_bid, t_bdim, t_gdim;
static __thread unsigned t_lane;
static __thread void* t_dynamic;

uint3 thread_idx() { return t_tid; }
uint3 block_idx() { return t_bid; }
uint3 block_dim() { return t_bdim; }
uint3 grid_dim() { return t_gdim; }
unsigned lane_id() { return t_lane; }
void* dynamic_smem() { return t_dynamic; }

namespace {

constexpr int kMaxThreads = 1024;
constexpr int kMaxWorkers = 64;
constexpr size_t kPage = 4096;
constexpr size_t kArenaBytes = 256 << 10;  // static + dynamic shared memory of one block (opt-in max is 163 KiB)
constexpr size_t kRedZone = 32;            // after each __shared__ variable
constexpr unsigned kSlackTag = 126;        // the guard tag of the dynamic shared memory's slack (slots use 1 … 125)

enum State : uint8_t { RUN, WAIT_BAR, WAIT_WARP, DONE };

// One cp.async in flight: its source bytes (read at the issue) and where they land when its group is waited for.
struct AsyncCopy {
    char* dst;
    int bytes;
    int group;  // the number of groups the thread had committed when it issued the copy
    unsigned char data[16];
};

struct Fiber {
    void* sp;
#if !defined(__x86_64__)
    ucontext_t uc;
#endif
    State state;
    uint3 tid;
    int linear;
    std::vector<AsyncCopy> async;  // cp.async copies not yet waited for, in issue order
    int async_groups;              // cp.async.commit_group count
};

struct Warp {
    int lanes;     // lanes that exist (32, or fewer in the last warp of a block)
    int live;      // lanes that have not returned
    int arrived;   // lanes waiting at the pending collective
    int phase;     // which half of the double-buffered slots the pending collective uses
    int kind;      // Collective of the pending collective
    unsigned mask; // its mask
    unsigned long long slot[2][32];
    unsigned char frag[2][32][48];  // per-lane operands of ldmatrix and mma
};

struct Slot {
    const SharedSite* site;
    char* ptr;
};

struct Job;

struct Worker {
    int index = 0;
    pthread_t thread{};
    void* sched_sp = nullptr;
#if !defined(__x86_64__)
    ucontext_t sched_uc;
#endif
    Fiber fibers[kMaxThreads];
    char* stacks = nullptr;
    int stack_count = 0;
    int n = 0, live = 0, bar_arrived = 0, bar_acc = 0, bar_phase = 0;
    int bar_result[2] = {0, 0};  // what __syncthreads_count/and/or return, double-buffered like the warp slots
    Warp warps[kMaxThreads / 32];
    Fiber* cur = nullptr;
    Job* job = nullptr;
    uint3 bid{};
    // shared memory: [arena … static slots grow upward …][dynamic, ending at the guard page][guard page]
    char* arena = nullptr;
    char* guard = nullptr;
    size_t static_top = 0, static_bytes = 0;
    char* dyn = nullptr;
    size_t dyn_bytes = 0;
    std::vector<Slot> slots;
    int order[kMaxThreads];
    uint64_t rng = 0;
    // fault capture: the handler jumps back to `jb` when `guarded` is set
    sigjmp_buf jb;
    volatile sig_atomic_t guarded = 0;
    void* volatile fault_addr = nullptr;
    volatile int fault_sig = 0;
    volatile int fault_code = 0;
    bool block_failed = false;
};

// One launch or parallel loop, shared by the workers that run it.
struct Job {
    const LaunchSpec* launch = nullptr;
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    const char* what = "";
    int64_t total = 0, chunk = 1;
    std::atomic<int64_t> next{0};
    std::atomic<bool> abort{false};
    std::mutex mu;
    Result code = OK;
    std::string message;
    int diagnostics = 0;
    // the block order: index i → block (a*i + c) mod total, a bijection when gcd(a, total) = 1
    uint64_t perm_a = 1, perm_c = 0;
    bool reverse = false;
};

Worker* g_workers[kMaxWorkers];
pthread_t g_worker_threads[kMaxWorkers];
std::atomic<int> g_worker_total{0};
__thread Worker* t_worker;

extern "C" void emu_switch(void** save_sp, void* new_sp);

// ---- diagnostics ---------------------------------------------------------------------------------------------------
std::string where(Worker* w) {
    const char* name = w->job && w->job->launch ? w->job->launch->kernel->name.c_str() : w->job ? w->job->what : "?";
    if (!w->cur) return format("%s block (%u,%u,%u)", name, w->bid.x, w->bid.y, w->bid.z);
    return format("%s block (%u,%u,%u) thread (%u,%u,%u)", name, w->bid.x, w->bid.y, w->bid.z, w->cur->tid.x,
                  w->cur->tid.y, w->cur->tid.z);
}

// Records a failed check of the launch (the first one is the error message; a few more follow on stderr) and stops
// the launch after this block.
void diag(Worker* w, Result code, const std::string& what) {
    Job* j = w->job;
    const std::string line = where(w) + ": " + what;
    {
        std::lock_guard<std::mutex> g(j->mu);
        if (j->code == OK) {
            j->code = code;
            j->message = line;
        }
        if (j->diagnostics++ < 8) log_line(line);
    }
    w->block_failed = true;
    j->abort.store(true, std::memory_order_relaxed);
}

uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void shuffle_order(Worker* w) {
    for (int i = w->n - 1; i > 0; i--) {
        const int k = (int)(splitmix(w->rng) % (uint64_t)(i + 1));
        std::swap(w->order[i], w->order[k]);
    }
}

// ---- fibers --------------------------------------------------------------------------------------------------------
inline void to_scheduler(Worker* w) {
#if defined(__x86_64__)
    emu_switch(&w->cur->sp, w->sched_sp);
#else
    swapcontext(&w->cur->uc, &w->sched_uc);
#endif
}

void release_barrier(Worker* w) {
    w->bar_result[w->bar_phase] = w->bar_acc;
    w->bar_phase ^= 1;
    w->bar_arrived = 0;
    for (int i = 0; i < w->n; i++)
        if (w->fibers[i].state == WAIT_BAR) w->fibers[i].state = RUN;
}

void release_warp(Worker* w, Warp& wp, int base) {
    wp.arrived = 0;
    wp.kind = 0;
    wp.phase ^= 1;
    for (int i = base; i < base + wp.lanes; i++)
        if (w->fibers[i].state == WAIT_WARP) w->fibers[i].state = RUN;
}

[[noreturn]] void fiber_main() {
    Worker* w = t_worker;
    w->job->launch->kernel->desc->entry(w->job->launch->blob.data());
    Fiber* f = w->cur;
    f->state = DONE;
    w->live--;
    Warp& wp = w->warps[f->linear >> 5];
    wp.live--;
    if (wp.arrived > 0 && ((wp.mask >> (f->linear & 31)) & 1)) {
        if (config().strict)
            diag(w, LAUNCH_FAILED,
                 format("returned while %d lane(s) of its warp wait in a warp collective (mask 0x%08x)", wp.arrived,
                        wp.mask));
        release_warp(w, wp, f->linear & ~31);
    }
    if (w->bar_arrived > 0) {
        if (config().strict)
            diag(w, LAUNCH_FAILED, format("returned while %d thread(s) of the block wait at __syncthreads",
                                          w->bar_arrived));
        release_barrier(w);
    }
#if defined(__x86_64__)
    void* dead;
    emu_switch(&dead, w->sched_sp);
#else
    setcontext(&w->sched_uc);
#endif
    __builtin_unreachable();
}

void ensure_stacks(Worker* w, int n) {
    if (n <= w->stack_count) return;
    const size_t bytes = config().stack_bytes;
    if (!w->stacks) {
        w->stacks = (char*)mmap(nullptr, (size_t)kMaxThreads * bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (w->stacks == MAP_FAILED) {
            log_line("cannot reserve the fiber stacks");
            abort();
        }
    }
    // A guard page at the low end of each stack turns an overflow into a fault the handler can report.
    for (int i = w->stack_count; i < n; i++) mprotect(w->stacks + (size_t)i * bytes, kPage, PROT_NONE);
    w->stack_count = n;
}

void init_fiber(Worker* w, Fiber* f, int i) {
    const size_t bytes = config().stack_bytes;
    // Stack tops are staggered by 64·(i mod 61) bytes: 1024 tops at the same offset in their pages all fell into one
    // cache set, which made a switch a conflict miss (5× slower).
    char* top = w->stacks + (size_t)(i + 1) * bytes - 64 * (i % 61);
#if defined(__x86_64__)
    uint64_t* sp = (uint64_t*)top;
    *--sp = 0;                               // the return address of fiber_main: none (ends backtraces)
    *--sp = (uint64_t)(uintptr_t)&fiber_main;  // where emu_switch jumps
    for (int r = 0; r < 6; r++) *--sp = 0;     // rbp rbx r12 r13 r14 r15
    f->sp = sp;
#else
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = w->stacks + (size_t)i * bytes + kPage;
    f->uc.uc_stack.ss_size = (size_t)(top - (w->stacks + (size_t)i * bytes + kPage));
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, (void (*)())fiber_main, 0);
#endif
}

void ensure_arena(Worker* w) {
    if (w->arena) return;
    char* p = (char*)mmap(nullptr, kArenaBytes + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_line("cannot map the shared-memory arena");
        abort();
    }
    mprotect(p + kArenaBytes, kPage, PROT_NONE);
    w->arena = p;
    w->guard = p + kArenaBytes;
}

void check_shared_after_block(Worker* w) {
    Fiber* cur = w->cur;
    w->cur = nullptr;
    for (size_t k = 0; k < w->slots.size(); k++) {
        const Slot& s = w->slots[k];
        const size_t at = check_guard(s.ptr + s.site->size, kRedZone, 1 + (unsigned)(k % 125));
        if (at < kRedZone) {
            diag(w, ILLEGAL_ADDRESS,
                 format("wrote __shared__ %s past its end: byte %zu after its %u bytes was overwritten", s.site->name,
                        at, s.site->size));
            break;
        }
    }
    const size_t slack = (size_t)(w->guard - (w->dyn + w->dyn_bytes));
    if (w->dyn_bytes) {
        const size_t at = check_guard(w->dyn + w->dyn_bytes, slack, kSlackTag);
        if (at < slack)
            diag(w, ILLEGAL_ADDRESS,
                 format("wrote dynamic shared memory at byte %zu, past the %zu bytes of the launch", w->dyn_bytes + at,
                        w->dyn_bytes));
    }
    w->cur = cur;
}

void run_block(Worker* w, const LaunchSpec& spec, uint3 bid) {
    const dim3 bd = spec.block;
    const int n = (int)(bd.x * bd.y * bd.z);
    ensure_stacks(w, n);
    ensure_arena(w);
    w->n = n;
    w->live = n;
    w->bar_arrived = 0;
    w->bar_phase = 0;
    w->bid = bid;
    w->block_failed = false;
    for (int k = 0; k < (n + 31) / 32; k++) {
        Warp& wp = w->warps[k];
        wp.lanes = std::min(32, n - 32 * k);
        wp.live = wp.lanes;
        wp.arrived = 0;
        wp.phase = 0;
        wp.kind = 0;
        wp.mask = 0;
    }
    uint3 t = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        Fiber& f = w->fibers[i];
        f.state = RUN;
        f.linear = i;
        f.async.clear();
        f.async_groups = 0;
        f.tid = t;  // x fastest, as CUDA numbers threads (no division: this loop runs once per thread)
        if (++t.x == bd.x) {
            t.x = 0;
            if (++t.y == bd.y) {
                t.y = 0;
                ++t.z;
            }
        }
        init_fiber(w, &f, i);
    }
    t_bid = bid;
    t_bdim = {bd.x, bd.y, bd.z};
    t_gdim = {spec.grid.x, spec.grid.y, spec.grid.z};
    // Shared memory starts undefined: the dynamic buffer ends 16-byte aligned just below the guard page and is filled
    // with the poison, slack included; static slots are poisoned when the block first touches them.
    w->slots.clear();
    w->static_top = 0;
    w->static_bytes = 0;
    w->dyn_bytes = spec.dynamic_smem;
    w->dyn = w->guard - ((spec.dynamic_smem + 15) & ~(size_t)15);
    if (spec.dynamic_smem) {
        memset(w->dyn, kPoison, spec.dynamic_smem);
        fill_guard(w->dyn + spec.dynamic_smem, (size_t)(w->guard - w->dyn) - spec.dynamic_smem, kSlackTag);
    }
    t_dynamic = spec.dynamic_smem ? w->dyn : nullptr;

    const Config& c = config();
    for (int i = 0; i < n; i++) w->order[i] = c.schedule == Schedule::Reverse ? n - 1 - i : i;
    if (c.schedule == Schedule::Random) {
        w->rng = c.seed * 0x2545f4914f6cdd1dull ^ (((uint64_t)bid.z << 42) | ((uint64_t)bid.y << 21) | bid.x);
        shuffle_order(w);
    }

    while (w->live > 0) {
        bool ran = false;
        for (int k = 0; k < n; k++) {
            Fiber& f = w->fibers[w->order[k]];
            if (f.state != RUN) continue;
            ran = true;
            w->cur = &f;
            t_tid = f.tid;
            t_lane = (unsigned)(f.linear & 31);
#if defined(__x86_64__)
            emu_switch(&w->sched_sp, f.sp);
#else
            swapcontext(&w->sched_uc, &f.uc);
#endif
        }
        if (!ran) {
            int bar = 0, warp = 0;
            for (int i = 0; i < n; i++) {
                bar += w->fibers[i].state == WAIT_BAR;
                warp += w->fibers[i].state == WAIT_WARP;
            }
            w->cur = nullptr;
            diag(w, LAUNCH_FAILED,
                 format("deadlock: %d thread(s) wait at __syncthreads while %d wait in warp collectives that "
                        "cannot complete",
                        bar, warp));
            break;
        }
        if (c.schedule == Schedule::Random) shuffle_order(w);
    }
    w->cur = nullptr;
    check_shared_after_block(w);
    Kernel* k = spec.kernel;
    int seen = __atomic_load_n(&k->static_smem, __ATOMIC_RELAXED);
    while ((int)w->static_bytes > seen &&
           !__atomic_compare_exchange_n(&k->static_smem, &seen, (int)w->static_bytes, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

// ---- faults ----------------------------------------------------------------------------------------------------------
struct sigaction g_previous[NSIG];

Worker* worker_of_this_thread() {
    const pthread_t self = pthread_self();
    const int total = g_worker_total.load(std::memory_order_acquire);
    for (int i = 0; i < total; i++)
        if (pthread_equal(g_worker_threads[i], self)) return g_workers[i];
    return nullptr;
}

void on_fault(int sig, siginfo_t* info, void* context) {
    Worker* w = worker_of_this_thread();
    if (w && w->guarded) {
        w->fault_addr = info->si_addr;
        w->fault_sig = sig;
        w->fault_code = info->si_code;
        w->guarded = 0;
        siglongjmp(w->jb, 1);
    }
    // Not a fault of emulated device code: hand it to the handler that was installed before ours (the .NET runtime's,
    // which turns faults in managed code into NullReferenceException), exactly as the kernel would have.
    const struct sigaction& prev = g_previous[sig];
    if (prev.sa_flags & SA_SIGINFO) {
        if (prev.sa_sigaction) {
            prev.sa_sigaction(sig, info, context);
            return;
        }
    } else if (prev.sa_handler == SIG_IGN) {
        return;
    } else if (prev.sa_handler != SIG_DFL) {
        prev.sa_handler(sig);
        return;
    }
    // The default action: restore it and let the faulting instruction run again (or re-raise a sent signal).
    signal(sig, SIG_DFL);
    if (info->si_code <= 0) raise(sig);
}

void worker_signal_setup() {
    // Only synchronous faults reach a worker; everything else goes to the threads that expect it.
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, nullptr);
    // The handler must not run on a fiber stack that has just overflowed.
    stack_t ss = {};
    ss.ss_size = 64 << 10;
    ss.ss_sp = mmap(nullptr, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sigaltstack(&ss, nullptr);
}

std::string describe_fault(Worker* w) {
    const uint64_t addr = (uint64_t)(uintptr_t)w->fault_addr;
    if (w->fault_sig == SIGFPE)
        return format("arithmetic exception (%s)", w->fault_code == FPE_INTDIV ? "integer division by zero"
                                                   : w->fault_code == FPE_INTOVF ? "integer overflow"
                                                                                 : "floating point");
    if (w->fault_sig == SIGILL) return format("illegal instruction at 0x%llx", (unsigned long long)addr);
    const char* a = (const char*)w->fault_addr;
    if (w->arena && a >= w->guard && a < w->guard + kPage)
        return format("illegal address 0x%llx: byte %zu of dynamic shared memory, past the %zu bytes of the launch",
                      (unsigned long long)addr, (size_t)(a - w->dyn), w->dyn_bytes);
    const size_t sb = config().stack_bytes;
    if (w->stacks && a >= w->stacks && a < w->stacks + (size_t)kMaxThreads * sb &&
        (size_t)(a - w->stacks) % sb < kPage)
        return format("stack overflow (each emulated thread has %zu KiB; MED2E3_EMU_STACK_KIB raises it)", sb >> 10);
    return format("illegal address 0x%llx (%s)", (unsigned long long)addr, mem_describe(addr).c_str());
}

// ---- the worker pool ---------------------------------------------------------------------------------------------
struct Pool {
    std::mutex run_mu;  // one job at a time
    std::mutex mu;
    std::condition_variable wake, done;
    Job* job = nullptr;
    uint64_t generation = 0;
    int busy = 0;
};
Pool* g_pool;

void work(Worker* w, Job* j) {
    w->job = j;
    w->guarded = 0;
    if (const int how = sigsetjmp(w->jb, 1)) {
        // A fault in device code (1), or __trap and assert (2, already reported): the fibers of this block are
        // abandoned and the launch stops.
        // An arithmetic trap has no counterpart on a GPU (integer division by zero gives an undefined value there),
        // but it is a bug in the kernel all the same: the launch fails.
        if (how == 1)
            diag(w, w->fault_sig == SIGFPE ? LAUNCH_FAILED : w->fault_sig == SIGILL ? ILLEGAL_INSTRUCTION : ILLEGAL_ADDRESS,
                 describe_fault(w));
        w->cur = nullptr;
        w->job = nullptr;
        return;
    }
    w->guarded = 1;
    for (;;) {
        if (j->abort.load(std::memory_order_relaxed)) break;
        const int64_t i = j->next.fetch_add(j->chunk, std::memory_order_relaxed);
        if (i >= j->total) break;
        if (j->launch) {
            const uint64_t b = j->reverse ? (uint64_t)(j->total - 1 - i)
                                          : (uint64_t)(((unsigned __int128)j->perm_a * (uint64_t)i + j->perm_c) %
                                                       (uint64_t)j->total);
            const dim3 g = j->launch->grid;
            const uint3 bid = {(unsigned)(b % g.x), (unsigned)(b / g.x % g.y), (unsigned)(b / ((uint64_t)g.x * g.y))};
            run_block(w, *j->launch, bid);
        } else {
            (*j->body)(i, std::min(j->total, i + j->chunk));
        }
    }
    w->guarded = 0;
    w->job = nullptr;
}

void worker_main(Worker* w) {
    worker_signal_setup();
    t_worker = w;
    uint64_t seen = 0;
    for (;;) {
        Job* j;
        {
            std::unique_lock<std::mutex> l(g_pool->mu);
            g_pool->wake.wait(l, [&] { return g_pool->generation != seen; });
            seen = g_pool->generation;
            j = g_pool->job;
        }
        work(w, j);
        std::lock_guard<std::mutex> l(g_pool->mu);
        if (--g_pool->busy == 0) g_pool->done.notify_all();
    }
}

void start_pool() {
    static std::once_flag once;
    std::call_once(once, [] {
        install_fault_handlers();
        g_pool = new Pool();
        const int n = std::max(1, std::min(kMaxWorkers, config().workers));
        for (int i = 0; i < n; i++) {
            Worker* w = new Worker();
            w->index = i;
            g_workers[i] = w;
            std::thread t(worker_main, w);
            g_worker_threads[i] = t.native_handle();
            t.detach();
            g_worker_total.store(i + 1, std::memory_order_release);
        }
    });
}

void run_job(Job* j) {
    start_pool();
    std::lock_guard<std::mutex> one(g_pool->run_mu);
    std::unique_lock<std::mutex> l(g_pool->mu);
    g_pool->job = j;
    g_pool->busy = g_worker_total.load();
    g_pool->generation++;
    g_pool->wake.notify_all();
    g_pool->done.wait(l, [] { return g_pool->busy == 0; });
    g_pool->job = nullptr;
}

uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// ---- warp collectives ----------------------------------------------------------------------------------------------
const char* kind_name(int kind) {
    switch (kind) {
        case COLL_SYNCWARP: return "__syncwarp";
        case COLL_SHFL: return "a shuffle";
        case COLL_VOTE: return "a vote (__ballot_sync / __any_sync / __all_sync)";
        case COLL_LDMATRIX: return "ldmatrix";
        case COLL_MMA: return "mma.sync";
        default: return "?";
    }
}

// Every lane named by `mask` deposits its operands, waits for the others and then reads; returns the slot half used.
// `complete`, when given, runs once on the last lane to arrive, before anyone is released: a warp-wide instruction
// (ldmatrix, mma) then reads shared memory and operands at the instant the whole warp is at the instruction.
int warp_arrive(Worker* w, unsigned mask, int kind, void (*complete)(Worker*, Warp&, int) = nullptr) {
    Fiber* f = w->cur;
    Warp& wp = w->warps[f->linear >> 5];
    const int base = f->linear & ~31;
    const unsigned exist = wp.lanes == 32 ? 0xffffffffu : ((1u << wp.lanes) - 1);
    const unsigned lane_bit = 1u << (f->linear & 31);
    if (config().strict) {
        if (mask & ~exist)
            diag(w, LAUNCH_FAILED,
                 format("%s with mask 0x%08x names lanes that do not exist (this warp has %d lane%s)",
                        kind_name(kind), mask, wp.lanes, wp.lanes == 1 ? "" : "s"));
        else if (!(mask & lane_bit))
            diag(w, LAUNCH_FAILED, format("%s with mask 0x%08x called by lane %d, which the mask leaves out",
                                          kind_name(kind), mask, f->linear & 31));
        else if (wp.live != wp.lanes && (mask & exist) == exist)
            diag(w, LAUNCH_FAILED, format("%s with mask 0x%08x after %d lane(s) of the warp returned",
                                          kind_name(kind), mask, wp.lanes - wp.live));
        else if (wp.arrived > 0 && (wp.kind != kind || wp.mask != mask))
            diag(w, LAUNCH_FAILED, format("%s with mask 0x%08x while other lanes of the warp wait in %s (mask "
                                          "0x%08x): the lanes diverged",
                                          kind_name(kind), mask, kind_name(wp.kind), wp.mask));
    }
    const int phase = wp.phase;
    wp.kind = kind;
    wp.mask = mask;
    const int need = std::min(__builtin_popcount(mask & exist), wp.live);
    if (++wp.arrived >= need) {
        if (complete) complete(w, wp, phase);
        release_warp(w, wp, base);
        // The last lane yields too, so that between collectives the lanes keep the order of the schedule.
        to_scheduler(w);
        return phase;
    }
    f->state = WAIT_WARP;
    to_scheduler(w);
    return phase;
}

bool in_shared(Worker* w, const void* p, size_t n) {
    const char* c = (const char*)p;
    return w->arena && c >= w->arena && c + n <= w->guard;
}

// ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16 (PTX ISA, "Warp-level matrix load instruction: ldmatrix"): lanes
// 8i … 8i+7 give the 16-byte rows of matrix i. Plain: lane l receives row l/4, elements 2(l%4) and 2(l%4)+1 of each
// matrix. .trans: lane l receives element l/4 of rows 2(l%4) and 2(l%4)+1.
template <bool TRANS>
void ldmatrix_complete(Worker*, Warp& wp, int ph) {
    const uint16_t* rows[32];
    for (int j = 0; j < 32; j++) memcpy(&rows[j], wp.frag[ph][j], sizeof(void*));
    unsigned out[32][4];
    for (int l = 0; l < 32; l++)
        for (int m = 0; m < 4; m++) {
            const uint16_t* const* R = rows + 8 * m;
            const uint16_t lo = TRANS ? R[2 * (l % 4)][l / 4] : R[l / 4][2 * (l % 4)];
            const uint16_t hi = TRANS ? R[2 * (l % 4) + 1][l / 4] : R[l / 4][2 * (l % 4) + 1];
            out[l][m] = (unsigned)lo | ((unsigned)hi << 16);
        }
    for (int l = 0; l < 32; l++) memcpy(wp.frag[ph][l], out[l], 16);
}

float bf16_as_f32(uint16_t h) {
    const unsigned u = (unsigned)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point
// type"), g = lane/4, t = lane%4:
//   A (16×16): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16×8):  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C, D:      c0 = (g, 2t), c1 = (g, 2t+1), c2 = (g+8, 2t), c3 = (g+8, 2t+1)
// Numerics: bf16 products are exact; the 16-term dot product is summed exactly (in double) and rounded once when added
// to C. Tensor cores round differently (not as IEEE sequential sums), so compare with a tolerance.
void mma_complete(Worker*, Warp& wp, int ph) {
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        unsigned reg[6];
        float c[4];
        memcpy(reg, wp.frag[ph][l], 24);
        memcpy(c, wp.frag[ph][l] + 24, 16);
        const int g = l / 4, t = l % 4;
        for (int k = 0; k < 4; k++) {
            const int row = g + ((k & 1) ? 8 : 0), col = 2 * t + ((k & 2) ? 8 : 0);
            A[row][col] = bf16_as_f32((uint16_t)reg[k]);
            A[row][col + 1] = bf16_as_f32((uint16_t)(reg[k] >> 16));
        }
        for (int k = 0; k < 2; k++) {
            const int kk = 2 * t + (k ? 8 : 0);
            B[kk][g] = bf16_as_f32((uint16_t)reg[4 + k]);
            B[kk + 1][g] = bf16_as_f32((uint16_t)(reg[4 + k] >> 16));
        }
        for (int e = 0; e < 4; e++) C[g + (e >= 2 ? 8 : 0)][2 * t + (e & 1)] = c[e];
    }
    for (int l = 0; l < 32; l++) {
        const int g = l / 4, t = l % 4;
        float d[4];
        for (int e = 0; e < 4; e++) {
            const int row = g + (e >= 2 ? 8 : 0), col = 2 * t + (e & 1);
            double s = 0.0;
            for (int k = 0; k < 16; k++) s += (double)A[row][k] * (double)B[k][col];
            d[e] = (float)((double)C[row][col] + s);
        }
        memcpy(wp.frag[ph][l], d, 16);
    }
}

Worker* current(const char* what) {
    Worker* w = t_worker;
    if (!w || !w->cur) {
        log_line(format("%s called outside a kernel", what));
        abort();
    }
    return w;
}

}  // namespace

// ---- the device functions kernels call ----------------------------------------------------------------------------
int syncthreads(int op, int pred) {
    Worker* w = current("__syncthreads");
    if (config().strict && w->live != w->n)
        diag(w, LAUNCH_FAILED, format("__syncthreads reached after %d thread(s) of the block returned",
                                      w->n - w->live));
    if (w->bar_arrived == 0) w->bar_acc = op == BAR_AND ? 1 : 0;
    const int phase = w->bar_phase;
    const int p = pred != 0;
    w->bar_acc = op == BAR_COUNT ? w->bar_acc + p : op == BAR_AND ? (w->bar_acc & p) : (w->bar_acc | p);
    if (++w->bar_arrived >= w->live) {
        release_barrier(w);
    } else {
        w->cur->state = WAIT_BAR;
    }
    // Every thread yields, the last one too, so each interval between barriers runs in the order of the schedule.
    to_scheduler(w);
    return w->bar_result[phase];
}

void syncwarp(unsigned mask) { warp_arrive(current("__syncwarp"), mask, COLL_SYNCWARP); }

unsigned long long shfl(unsigned mask, unsigned long long bits, int lane_or_delta, int width, int mode) {
    Worker* w = current("__shfl_sync");
    if (width <= 0 || width > 32 || (width & (width - 1)))
        diag(w, LAUNCH_FAILED, format("shuffle width %d is not a power of two in 1 … 32", width));
    Warp& wp = w->warps[w->cur->linear >> 5];
    const int lane = w->cur->linear & 31;
    wp.slot[wp.phase][lane] = bits;
    const int ph = warp_arrive(w, mask, COLL_SHFL);
    const int seg = lane & ~(width - 1);
    int src = lane;
    switch (mode) {
        case SHFL_IDX: src = seg + (lane_or_delta & (width - 1)); break;
        case SHFL_UP: src = lane - lane_or_delta >= seg ? lane - lane_or_delta : lane; break;
        case SHFL_DOWN: src = lane + lane_or_delta < seg + width ? lane + lane_or_delta : lane; break;
        default: {  // xor: a lane of a later segment is out of reach, the caller's own value is returned
            const int x = lane ^ lane_or_delta;
            src = (x & ~(width - 1)) > seg ? lane : x;
        }
    }
    if (config().strict && src != lane && !((mask >> src) & 1))
        diag(w, LAUNCH_FAILED, format("shuffle reads lane %d, which mask 0x%08x leaves out", src, mask));
    return wp.slot[ph][src & 31];
}

unsigned vote(unsigned mask, int pred, int mode) {
    Worker* w = current("__ballot_sync");
    Warp& wp = w->warps[w->cur->linear >> 5];
    const int lane = w->cur->linear & 31;
    wp.slot[wp.phase][lane] = pred ? 1 : 0;
    const int ph = warp_arrive(w, mask, COLL_VOTE);
    unsigned ballot = 0;
    for (int i = 0; i < wp.lanes; i++)
        if (((mask >> i) & 1) && wp.slot[ph][i]) ballot |= 1u << i;
    const unsigned named = mask & (wp.lanes == 32 ? 0xffffffffu : ((1u << wp.lanes) - 1));
    switch (mode) {
        case VOTE_ANY: return ballot != 0;
        case VOTE_ALL: return ballot == named;
        default: return ballot;
    }
}

void threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

void* shared_slot(const SharedSite* site) {
    Worker* w = current("a __shared__ declaration");
    for (const Slot& s : w->slots)
        if (s.site == site) return s.ptr;
    const size_t align = std::max<size_t>(16, site->align);
    const size_t off = (w->static_top + align - 1) & ~(align - 1);
    if (w->arena + off + site->size + kRedZone > w->dyn) {
        diag(w, LAUNCH_OUT_OF_RESOURCES,
             format("__shared__ %s (%u bytes) does not fit: static and dynamic shared memory exceed %zu KiB",
                    site->name, site->size, kArenaBytes >> 10));
        trap("shared memory exhausted");
    }
    char* p = w->arena + off;
    memset(p, kPoison, site->size);
    fill_guard(p + site->size, kRedZone, 1 + (unsigned)(w->slots.size() % 125));
    w->static_top = off + site->size + kRedZone;
    w->static_bytes = ((w->static_bytes + site->align - 1) & ~(size_t)(site->align - 1)) + site->size;
    w->slots.push_back({site, p});
    return p;
}

void trap(const char* what) {
    Worker* w = current("__trap");
    diag(w, LAUNCH_FAILED, what);
    w->guarded = 0;
    w->fault_sig = 0;
    // Leave the block as a fault does; the diagnostic is already recorded, so the fault path adds nothing.
    siglongjmp(w->jb, 2);
}

void assert_fail(const char* expr, const char* file, int line) {
    Worker* w = current("assert");
    diag(w, ASSERT, format("device-side assertion `%s` failed at %s:%d", expr, file, line));
    w->guarded = 0;
    siglongjmp(w->jb, 2);
}

void ldmatrix_x4(unsigned (&r)[4], const void* row_address, bool trans) {
    Worker* w = current("ldmatrix");
    if (config().strict) {
        if ((uintptr_t)row_address & 15)
            diag(w, MISALIGNED_ADDRESS, format("ldmatrix row address %p is not 16-byte aligned", row_address));
        if (!in_shared(w, row_address, 16))
            diag(w, ILLEGAL_ADDRESS, format("ldmatrix row address %p is not in the block's shared memory",
                                            row_address));
    }
    if (w->block_failed) trap("ldmatrix on an invalid address");
    Warp& wp = w->warps[w->cur->linear >> 5];
    const int lane = w->cur->linear & 31;
    memcpy(wp.frag[wp.phase][lane], &row_address, sizeof(void*));
    const int ph = warp_arrive(w, 0xffffffffu, COLL_LDMATRIX, trans ? ldmatrix_complete<true> : ldmatrix_complete<false>);
    memcpy(r, wp.frag[ph][lane], 16);
}

// cp.async.{ca,cg}.shared.global [dst], [src], cp_size, src_size (PTX ISA, "Data Movement and Conversion
// Instructions: cp.async"): cp_size is 4, 8 or 16 bytes, both addresses aligned to it; the src_size bytes are read and
// the rest of the cp_size bytes are zeros. The copy belongs to the group the next commit_group closes.
void cp_async(void* dst, const void* src, int cp_size, int src_size) {
    Worker* w = current("cp.async");
    if (config().strict) {
        if (cp_size != 4 && cp_size != 8 && cp_size != 16)
            diag(w, LAUNCH_FAILED, format("cp.async of %d bytes (cp-size must be 4, 8 or 16)", cp_size));
        else if (src_size < 0 || src_size > cp_size)
            diag(w, LAUNCH_FAILED, format("cp.async src-size %d is not in 0 … %d", src_size, cp_size));
        else if (((uintptr_t)dst | (src_size ? (uintptr_t)src : 0)) & (uintptr_t)(cp_size - 1))
            diag(w, MISALIGNED_ADDRESS, format("cp.async of %d bytes from %p to %p: both addresses must be %d-byte "
                                               "aligned", cp_size, src, dst, cp_size));
        else if (!in_shared(w, dst, (size_t)cp_size))
            diag(w, ILLEGAL_ADDRESS, format("cp.async destination %p is not in the block's shared memory", dst));
    }
    if (w->block_failed) trap("cp.async on an invalid address");
    Fiber* f = w->cur;
    AsyncCopy c;
    c.dst = (char*)dst;
    c.bytes = cp_size;
    c.group = f->async_groups;
    memcpy(c.data, src, (size_t)src_size);
    memset(c.data + src_size, 0, (size_t)(cp_size - src_size));
    memset(dst, kPoison, (size_t)cp_size);
    f->async.push_back(c);
}

void cp_async_commit() { current("cp.async.commit_group")->cur->async_groups++; }

// cp.async.wait_group N: every committed group but the N most recent is complete. Copies not yet committed belong to
// no group and stay in flight.
void cp_async_wait(int pending_groups) {
    Fiber* f = current("cp.async.wait_group")->cur;
    const int done_below = f->async_groups - std::max(0, pending_groups);
    size_t keep = 0;
    for (size_t i = 0; i < f->async.size(); i++) {
        const AsyncCopy& c = f->async[i];
        if (c.group < done_below)
            memcpy(c.dst, c.data, (size_t)c.bytes);
        else
            f->async[keep++] = c;
    }
    f->async.resize(keep);
}

void mma_m16n8k16_bf16_f32(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    Worker* w = current("mma.sync");
    Warp& wp = w->warps[w->cur->linear >> 5];
    const int lane = w->cur->linear & 31;
    const unsigned regs[6] = {a[0], a[1], a[2], a[3], b0, b1};
    memcpy(wp.frag[wp.phase][lane], regs, 24);
    memcpy(wp.frag[wp.phase][lane] + 24, d, 16);
    const int ph = warp_arrive(w, 0xffffffffu, COLL_MMA, mma_complete);
    memcpy(d, wp.frag[ph][lane], 16);
}

// ---- launches ----------------------------------------------------------------------------------------------------------
Result execute_launch(const LaunchSpec& spec, std::string* message) {
    Job j;
    j.launch = &spec;
    j.total = (int64_t)spec.grid.x * spec.grid.y * spec.grid.z;
    const Config& c = config();
    if (c.schedule == Schedule::Reverse) j.reverse = true;
    if (c.schedule == Schedule::Random && j.total > 1) {
        uint64_t s = c.seed ^ 0x5bd1e995ull;
        do {
            j.perm_a = splitmix(s) % (uint64_t)j.total;
        } while (j.perm_a == 0 || gcd(j.perm_a, (uint64_t)j.total) != 1);
        j.perm_c = splitmix(s) % (uint64_t)j.total;
    }
    run_job(&j);
    if (j.code != OK) *message = j.message;
    return j.code;
}

Result run_parallel(int64_t n, int64_t chunk, const char* what, const std::function<void(int64_t, int64_t)>& body,
                    std::string* message) {
    if (n <= 0) return OK;
    Job j;
    j.body = &body;
    j.what = what;
    j.total = n;
    j.chunk = std::max<int64_t>(1, chunk);
    run_job(&j);
    if (j.code != OK) *message = j.message;
    return j.code;
}

int worker_count() {
    start_pool();
    return g_worker_total.load();
}

void install_fault_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa = {};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigaction(sig, &sa, &g_previous[sig]);
    });
}

}  // namespace emu
