// support.cpp — configuration from the environment, diagnostics, the sticky error state, and SHA-256.
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "emu.h"

namespace emu {

namespace {

size_t env_size(const char* name, size_t fallback, size_t unit) {
    const char* v = getenv(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    const unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end) {
        fprintf(stderr, "med2e3-emu: %s=%s is not a number; using %zu\n", name, v, fallback / unit);
        return fallback;
    }
    return (size_t)n * unit;
}

Config read_config() {
    Config c;
    if (const char* s = getenv("MED2E3_EMU_SCHEDULE"); s && *s) {
        if (!strcmp(s, "forward")) {
            c.schedule = Schedule::Forward;
        } else if (!strcmp(s, "reverse")) {
            c.schedule = Schedule::Reverse;
        } else if (!strncmp(s, "random", 6) && (s[6] == 0 || s[6] == ':')) {
            c.schedule = Schedule::Random;
            c.seed = s[6] == ':' ? strtoull(s + 7, nullptr, 10) : 1;
        } else {
            fprintf(stderr, "med2e3-emu: MED2E3_EMU_SCHEDULE=%s: expected forward, reverse or random[:SEED]\n", s);
        }
    }
    cpu_set_t set;
    int cpus = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    c.workers = (int)env_size("MED2E3_EMU_WORKERS", (size_t)(cpus > 0 ? cpus : 1), 1);
    if (const char* s = getenv("MED2E3_EMU_STREAMS"); s && *s) {
        if (!strcmp(s, "deferred")) {
            c.deferred = true;
        } else if (strcmp(s, "immediate")) {
            fprintf(stderr, "med2e3-emu: MED2E3_EMU_STREAMS=%s: expected immediate or deferred\n", s);
        }
    }
    if (const char* s = getenv("MED2E3_EMU_STRICT")) c.strict = strcmp(s, "0") != 0;
    if (const char* s = getenv("MED2E3_EMU_QUIET")) c.quiet = strcmp(s, "0") != 0;
    c.total_memory = env_size("MED2E3_EMU_MEMORY_MIB", c.total_memory, 1 << 20);
    c.alloc_align = env_size("MED2E3_EMU_ALLOC_ALIGN", c.alloc_align, 1);
    if (c.alloc_align < 4 || (c.alloc_align & (c.alloc_align - 1)) || c.alloc_align > 4096) {
        fprintf(stderr, "med2e3-emu: MED2E3_EMU_ALLOC_ALIGN=%zu must be a power of two in 4 … 4096; using 256\n",
                c.alloc_align);
        c.alloc_align = 256;
    }
    c.quarantine_bytes = env_size("MED2E3_EMU_QUARANTINE_MIB", c.quarantine_bytes, 1 << 20);
    c.stack_bytes = env_size("MED2E3_EMU_STACK_KIB", c.stack_bytes, 1 << 10);
    c.stack_bytes = std::max<size_t>(16 << 10, (c.stack_bytes + 4095) & ~(size_t)4095);
    if (const char* s = getenv("MED2E3_EMU_CACHE"); s && *s) {
        c.cache_dir = s;
    } else if (const char* r = getenv("MED2E3_CACHE_DIR"); r && *r) {
        c.cache_dir = std::string(r) + "/emulator";
    } else if (const char* x = getenv("XDG_CACHE_HOME"); x && *x) {
        c.cache_dir = std::string(x) + "/med2e3/emulator";
    } else {
        const char* home = getenv("HOME");
        c.cache_dir = std::string(home && *home ? home : "/tmp") + "/.cache/med2e3/emulator";
    }
    const char* cxx = getenv("MED2E3_EMU_CXX");
    c.cxx = cxx && *cxx ? cxx : "g++";
    if (const char* f = getenv("MED2E3_EMU_CXXFLAGS")) c.cxxflags = f;
    return c;
}

std::mutex g_sticky_mu;
Result g_sticky = OK;
std::string* g_sticky_message = new std::string();  // never freed: cuGetErrorString hands out its buffer

struct Detail {
    Result code = OK;
    std::string text;
};
thread_local Detail t_detail[4];
thread_local int t_detail_next = 0;

}  // namespace

Config& mutable_config() {
    static Config c = read_config();
    return c;
}

const Config& config() { return mutable_config(); }

// Changes a setting between launches (the emulator's own tests run one kernel under several schedules this way).
EMU_EXPORT int med2e3_emu_configure(const char* key, const char* value) {
    if (!key || !value) return 1;
    Config& c = mutable_config();
    if (!strcmp(key, "schedule")) {
        if (!strcmp(value, "forward")) {
            c.schedule = Schedule::Forward;
        } else if (!strcmp(value, "reverse")) {
            c.schedule = Schedule::Reverse;
        } else if (!strncmp(value, "random", 6) && (value[6] == 0 || value[6] == ':')) {
            c.schedule = Schedule::Random;
            c.seed = value[6] == ':' ? strtoull(value + 7, nullptr, 10) : 1;
        } else {
            return 1;
        }
        return 0;
    }
    if (!strcmp(key, "streams")) {
        if (strcmp(value, "deferred") && strcmp(value, "immediate")) return 1;
        sync_all();
        c.deferred = !strcmp(value, "deferred");
        return 0;
    }
    if (!strcmp(key, "strict")) {
        c.strict = strcmp(value, "0") != 0;
        return 0;
    }
    if (!strcmp(key, "quiet")) {
        c.quiet = strcmp(value, "0") != 0;
        return 0;
    }
    return 1;
}

std::string schedule_name() {
    const Config& c = config();
    switch (c.schedule) {
        case Schedule::Reverse: return "reverse";
        case Schedule::Random: return format("random:%llu", (unsigned long long)c.seed);
        default: return "forward";
    }
}

std::string format(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < (int)sizeof buf) return std::string(buf, n > 0 ? (size_t)n : 0);
    std::string big((size_t)n + 1, '\0');
    va_start(ap, fmt);
    vsnprintf(&big[0], big.size(), fmt, ap);
    va_end(ap);
    big.resize((size_t)n);
    return big;
}

void log_line(const std::string& line) {
    if (config().quiet) return;
    const std::string text = "med2e3-emu: " + line + "\n";
    // One write, so lines of concurrent threads do not interleave.
    ssize_t r = write(2, text.data(), text.size());
    (void)r;
}

Result sticky_error() {
    std::lock_guard<std::mutex> g(g_sticky_mu);
    return g_sticky;
}

const char* sticky_message() {
    std::lock_guard<std::mutex> g(g_sticky_mu);
    return g_sticky_message->c_str();
}

void set_sticky(Result code, const std::string& message) {
    std::lock_guard<std::mutex> g(g_sticky_mu);
    if (g_sticky != OK) return;  // the first error is the one every later call reports
    g_sticky = code;
    // Leaked on purpose: a pointer from an earlier cuGetErrorString may still be read.
    g_sticky_message = new std::string(message);
}

void clear_sticky() {
    std::lock_guard<std::mutex> g(g_sticky_mu);
    g_sticky = OK;
}

Result fail(Result code, const std::string& detail) {
    Detail& d = t_detail[t_detail_next++ & 3];
    d.code = code;
    d.text = detail;
    return code;
}

const char* last_detail(Result code) {
    for (int i = 1; i <= 4; i++) {
        const Detail& d = t_detail[(t_detail_next - i) & 3];
        if (d.code == code && !d.text.empty()) return d.text.c_str();
    }
    return nullptr;
}

// ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------------------------------------
namespace {
const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
void block(uint32_t h[8], const unsigned char* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}
}  // namespace

Sha256::Sha256() {
    const uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h, init, sizeof h);
}

void Sha256::add(const void* data, size_t n) {
    const unsigned char* p = (const unsigned char*)data;
    bytes += n;
    while (n > 0) {
        const size_t take = std::min(n, 64 - fill);
        memcpy(buf + fill, p, take);
        fill += take;
        p += take;
        n -= take;
        if (fill == 64) {
            block(h, buf);
            fill = 0;
        }
    }
}

void Sha256::add_field(const char* label, const std::string& value) {
    const std::string prefix = format("%s:%zu:", label, value.size());
    add(prefix.data(), prefix.size());
    add(value.data(), value.size());
}

std::string Sha256::hex() {
    const uint64_t bits = bytes * 8;
    const unsigned char one = 0x80, zero = 0;
    add(&one, 1);
    while (fill != 56) add(&zero, 1);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
    add(len, 8);
    char out[65];
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", h[i]);
    return std::string(out, 64);
}

std::string sha256_hex(const void* data, size_t n) {
    Sha256 s;
    s.add(data, n);
    return s.hex();
}

}  // namespace emu
