// memory.cpp — device memory of the emulated device.
//
// Device memory is host memory inside one reserved address range, so a device pointer is recognisable and the
// faults of a kernel can be explained. Every cuMemAlloc gets its own pages:
//
//   [ poison … | the allocation (exact size, start aligned to MED2E3_EMU_ALLOC_ALIGN) | slack < align ][ guard page ]
//
// It ends at a PROT_NONE guard page, so an access past the end faults once it leaves the slack; the slack is filled
// with a guard pattern and checked after every launch, so a write into it is reported with the launch that did it. New
// memory is filled with 0xFF bytes (NaN as f32, bf16 and f16): a read of memory nobody wrote shows up as NaN. Freed
// memory becomes PROT_NONE and stays in quarantine (MED2E3_EMU_QUARANTINE_MIB, FIFO) before its pages are reused, so
// a use after free faults and is named as one.
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "emu.h"

namespace emu {

namespace {

constexpr size_t kPage = 4096;

struct Alloc {
    uint64_t user = 0;   // the device pointer
    size_t size = 0;     // bytes requested
    size_t first = 0;    // first page (index into the region)
    size_t pages = 0;    // data pages; the guard page follows
    bool live = true;
    uint64_t serial = 0;
    unsigned tag = 1;    // of the slack's guard pattern
};

struct Heap {
    std::mutex mu;
    char* base = nullptr;
    size_t region_pages = 0;
    std::map<size_t, size_t> free_runs;   // first page → pages
    std::map<uint64_t, Alloc> by_user;    // live and quarantined allocations
    std::deque<uint64_t> quarantine;      // freed allocations, oldest first
    size_t quarantined_bytes = 0;
    size_t used = 0;
    uint64_t serial = 0;
    std::map<uintptr_t, size_t> pinned;   // host allocations: start → bytes
};

Heap& heap() {
    static Heap* h = [] {
        Heap* x = new Heap();
        // 1 TiB of address space at most, never less than 4 × the reported memory; nothing is committed until used.
        for (size_t bytes = std::max<size_t>(1ull << 40, 4 * config().total_memory); bytes >= (1ull << 30); bytes /= 2) {
            void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p != MAP_FAILED) {
                x->base = (char*)p;
                x->region_pages = bytes / kPage;
                break;
            }
        }
        if (!x->base) {
            log_line("cannot reserve address space for device memory");
            abort();
        }
        x->free_runs[0] = x->region_pages;
        return x;
    }();
    return *h;
}

bool take_pages(Heap& h, size_t n, size_t* first) {
    for (auto it = h.free_runs.begin(); it != h.free_runs.end(); ++it) {
        if (it->second < n) continue;
        *first = it->first;
        const size_t rest = it->second - n;
        const size_t at = it->first + n;
        h.free_runs.erase(it);
        if (rest) h.free_runs[at] = rest;
        return true;
    }
    return false;
}

void give_pages(Heap& h, size_t first, size_t n) {
    auto next = h.free_runs.lower_bound(first);
    if (next != h.free_runs.end() && next->first == first + n) {
        n += next->second;
        next = h.free_runs.erase(next);
    }
    if (next != h.free_runs.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == first) {
            prev->second += n;
            return;
        }
    }
    h.free_runs[first] = n;
}

char* page_addr(Heap& h, size_t page) { return h.base + page * kPage; }

uint64_t end_of_data(Heap& h, const Alloc& a) { return (uint64_t)(uintptr_t)page_addr(h, a.first + a.pages); }

// The allocation whose pages (data or guard) contain addr, or null.
const Alloc* find(Heap& h, uint64_t addr) {
    auto it = h.by_user.upper_bound(addr);
    if (it != h.by_user.begin()) {
        const Alloc& a = std::prev(it)->second;
        if (addr < end_of_data(h, a) + kPage) return &a;
    }
    // An address below the start of the first data page's allocation but in its pages (the leading poison).
    if (it != h.by_user.end()) {
        const Alloc& a = it->second;
        if (addr >= (uint64_t)(uintptr_t)page_addr(h, a.first)) return &a;
    }
    return nullptr;
}

std::string describe_locked(Heap& h, uint64_t addr) {
    if (addr < 65536) return format("a null pointer plus %llu", (unsigned long long)addr);
    const uint64_t lo = (uint64_t)(uintptr_t)h.base, hi = lo + h.region_pages * kPage;
    if (addr < lo || addr >= hi) return "not device memory";
    const Alloc* a = find(h, addr);
    if (!a) {
        // Past an allocation's guard page: name the allocation below, the likeliest one the access ran out of.
        auto it = h.by_user.upper_bound(addr);
        if (it == h.by_user.begin()) return "device memory that was never allocated";
        const Alloc& below = std::prev(it)->second;
        return format("%llu bytes past the end of the %s%zu-byte device allocation at 0x%llx, beyond its guard page, in "
                      "device memory that is not allocated",
                      (unsigned long long)(addr - (below.user + below.size)), below.live ? "" : "freed ", below.size,
                      (unsigned long long)below.user);
    }
    const char* state = a->live ? "" : "freed ";
    if (addr >= a->user + a->size)
        return format("%llu bytes past the end of the %s%zu-byte device allocation at 0x%llx",
                      (unsigned long long)(addr - (a->user + a->size)), state, a->size, (unsigned long long)a->user);
    if (addr < a->user)
        return format("%llu bytes before the %s%zu-byte device allocation at 0x%llx",
                      (unsigned long long)(a->user - addr), state, a->size, (unsigned long long)a->user);
    return format("byte %llu of the %s%zu-byte device allocation at 0x%llx%s", (unsigned long long)(addr - a->user),
                  state, a->size, (unsigned long long)a->user, a->live ? "" : " (a use after free)");
}

unsigned char guard_byte(uintptr_t a, unsigned tag) { return (a & 1) ? 0xFF : (unsigned char)(0x80 | tag); }

}  // namespace

void fill_guard(void* p, size_t n, unsigned tag) {
    unsigned char* c = (unsigned char*)p;
    for (size_t i = 0; i < n; i++) c[i] = guard_byte((uintptr_t)(c + i), tag);
}

size_t check_guard(const void* p, size_t n, unsigned tag) {
    const unsigned char* c = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != guard_byte((uintptr_t)(c + i), tag)) return i;
    return n;
}

Result mem_alloc(uint64_t* out, size_t bytes) {
    *out = 0;
    if (bytes == 0) return fail(INVALID_VALUE, "cuMemAlloc of 0 bytes");
    Heap& h = heap();
    const Config& c = config();
    std::lock_guard<std::mutex> g(h.mu);
    if (bytes > c.total_memory - h.used)
        return fail(OUT_OF_MEMORY, format("cuMemAlloc of %zu bytes: %zu of the device's %zu bytes are free", bytes,
                                          c.total_memory - h.used, c.total_memory));
    const size_t pages = (bytes + c.alloc_align - 1 + kPage - 1) / kPage;
    size_t first;
    if (!take_pages(h, pages + 1, &first))
        return fail(OUT_OF_MEMORY, format("cuMemAlloc of %zu bytes: the device's address range is exhausted", bytes));
    char* data = page_addr(h, first);
    if (mprotect(data, pages * kPage, PROT_READ | PROT_WRITE) != 0) {
        give_pages(h, first, pages + 1);
        return fail(OUT_OF_MEMORY, format("cuMemAlloc of %zu bytes: the host has no memory left", bytes));
    }
    memset(data, kPoison, pages * kPage);
    Alloc a;
    a.size = bytes;
    a.first = first;
    a.pages = pages;
    a.user = ((uint64_t)(uintptr_t)(data + pages * kPage) - bytes) & ~(uint64_t)(c.alloc_align - 1);
    a.serial = ++h.serial;
    a.tag = 1 + (unsigned)(a.serial % 126);
    fill_guard((void*)(uintptr_t)(a.user + a.size), (size_t)(end_of_data(h, a) - (a.user + a.size)), a.tag);
    h.by_user[a.user] = a;
    h.used += bytes;
    *out = a.user;
    return OK;
}

Result mem_free(uint64_t ptr) {
    if (ptr == 0) return OK;
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    auto it = h.by_user.find(ptr);
    if (it == h.by_user.end() || !it->second.live)
        return fail(INVALID_VALUE, format("cuMemFree(0x%llx): %s", (unsigned long long)ptr,
                                          it == h.by_user.end() ? "not the start of a device allocation"
                                                                : "the allocation was already freed"));
    Alloc& a = it->second;
    a.live = false;
    h.used -= a.size;
    char* data = page_addr(h, a.first);
    mprotect(data, a.pages * kPage, PROT_NONE);
    madvise(data, a.pages * kPage, MADV_DONTNEED);
    h.quarantine.push_back(ptr);
    h.quarantined_bytes += a.pages * kPage;
    while (h.quarantined_bytes > config().quarantine_bytes && !h.quarantine.empty()) {
        auto old = h.by_user.find(h.quarantine.front());
        h.quarantine.pop_front();
        h.quarantined_bytes -= old->second.pages * kPage;
        give_pages(h, old->second.first, old->second.pages + 1);
        h.by_user.erase(old);
    }
    return OK;
}

void mem_info(size_t* free_bytes, size_t* total_bytes) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    *total_bytes = config().total_memory;
    *free_bytes = config().total_memory - h.used;
}

bool mem_check_range(uint64_t ptr, size_t bytes, std::string* why) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    const Alloc* a = find(h, ptr);
    if (a && a->live && ptr >= a->user && ptr + bytes <= a->user + a->size && ptr + bytes >= ptr) return true;
    if (!why) return false;
    if (a && a->live && ptr >= a->user && ptr < a->user + a->size)
        *why = format("the %zu bytes at 0x%llx run %llu bytes past the end of the %zu-byte device allocation at "
                      "0x%llx",
                      bytes, (unsigned long long)ptr, (unsigned long long)(ptr + bytes - (a->user + a->size)),
                      a->size, (unsigned long long)a->user);
    else
        *why = format("0x%llx is %s", (unsigned long long)ptr, describe_locked(h, ptr).c_str());
    return false;
}

std::string mem_describe(uint64_t addr) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    return describe_locked(h, addr);
}

int mem_check_slack(std::string* report) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    int damaged = 0;
    for (auto& [user, a] : h.by_user) {
        if (!a.live) continue;
        unsigned char* p = (unsigned char*)(uintptr_t)(a.user + a.size);
        const size_t n = (size_t)(end_of_data(h, a) - (a.user + a.size));
        const size_t i = check_guard(p, n, a.tag);
        if (i == n) continue;
        size_t last = i;
        for (size_t k = i; k < n; k++)
            if (check_guard(p + k, 1, a.tag) == 0) last = k;
        if (damaged++ == 0 && report)
            *report = format("wrote past the end of the %zu-byte device allocation at 0x%llx (bytes +%zu … +%zu after "
                             "its end changed)",
                             a.size, (unsigned long long)a.user, i, last);
        fill_guard(p, n, a.tag);  // reported once
    }
    return damaged;
}

Result host_alloc(void** out, size_t bytes) {
    *out = nullptr;
    if (bytes == 0) return fail(INVALID_VALUE, "cuMemHostAlloc of 0 bytes");
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return fail(OUT_OF_MEMORY, format("cuMemHostAlloc of %zu bytes failed", bytes));
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    h.pinned[(uintptr_t)p] = bytes;
    *out = p;
    return OK;
}

Result host_free(void* p) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    auto it = h.pinned.find((uintptr_t)p);
    if (it == h.pinned.end()) return fail(INVALID_VALUE, format("cuMemFreeHost(%p): not a pinned allocation", p));
    munmap(p, it->second);
    h.pinned.erase(it);
    return OK;
}

bool host_is_pinned(const void* p, size_t bytes) {
    Heap& h = heap();
    std::lock_guard<std::mutex> g(h.mu);
    auto it = h.pinned.upper_bound((uintptr_t)p);
    if (it == h.pinned.begin()) return false;
    --it;
    return (uintptr_t)p + bytes <= it->first + it->second;
}

}  // namespace emu
