// source_rewrite.h — the one source transformation of the emulator's compile step (source_rewrite.cpp).
#pragma once

#include <string>
#include <vector>

namespace emu {

struct RewrittenSource {
    struct Entry {
        std::string qualified;  // the C++ name to take the address of (namespaces included)
        std::string name;       // the extern "C" name cuModuleGetFunction looks up
        std::string bounds;     // the first argument of __launch_bounds__, or 1024
    };
    std::string text;                // the source with the rewrites, same line numbers
    std::vector<Entry> kernels;
    std::vector<std::string> notes;  // warnings for the program log (name:line: …)
    int static_shared = 0, dynamic_shared = 0;
};

// Rewrites block-scope `__shared__` declarations into slots of the block's shared-memory arena and
// `extern __shared__ T x[];` into a pointer to the launch's dynamic shared memory, and lists the extern "C"
// __global__ definitions. Comments, string literals and preprocessor lines are left alone.
RewrittenSource rewrite_source(const std::string& name, const std::string& src);

// The lines appended to the compiled file: one registration per kernel (med2e3_emu.h, MED2E3_EMU_KERNEL).
std::string registrations(const std::vector<RewrittenSource::Entry>& kernels);

// The names in `#include "…"` and `#include <…>` lines of a source.
std::vector<std::string> included_names(const std::string& src);

}  // namespace emu
