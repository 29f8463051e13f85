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
    std::string text;                // the source with the rewrites, same line numbers, registrations appended
    std::vector<Entry> kernels;
    std::vector<std::string> notes;  // warnings for the program log (name:line: …)
    int static_shared = 0, dynamic_shared = 0;
};

// Rewrites block-scope `__shared__` declarations into slots of the block's shared-memory arena and
// `extern __shared__ T x[];` into a pointer to the launch's dynamic shared memory, and appends one registration per
// extern "C" __global__ definition. Comments, string literals and preprocessor lines are left alone.
RewrittenSource rewrite_source(const std::string& name, const std::string& src);

}  // namespace emu
