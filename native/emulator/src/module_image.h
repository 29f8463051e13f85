// module_image.h — the "CUBIN" of the emulated device.
//
// nvrtcGetCUBIN hands out this image and cuModuleLoadData receives it back (as a bare pointer, which is why the
// header carries the total length). It holds the compiled shared object and the inputs it was compiled from, so that
// an image made by an emulator with another device header or executor interface (a stale entry of a kernel cache) is
// recompiled instead of loaded. A real CUBIN (ELF) or PTX text is recognised and refused with a clear error, and an
// image of this kind means nothing to a real driver: the two never meet.
//
//   offset 0   "M2E3EMU\0"                  magic
//          8   u32 format (1), u32 abi (MED2E3_EMU_ABI)
//         16   u64 total bytes (header + payloads)
//         24   char[64] compile key (hex SHA-256, the name of the emulator's own cache entry)
//         88   char[64] hash of the device header the module was compiled against
//        152   u64 offset, u64 bytes of the shared object (ELF)
//        168   u64 offset, u64 bytes of the compile inputs (length-prefixed: name, source, headers, options)
//        184   … payloads
#pragma once

#include <stdint.h>
#include <string.h>

#include <string>
#include <utility>
#include <vector>

namespace emu {

constexpr char kImageMagic[8] = {'M', '2', 'E', '3', 'E', 'M', 'U', 0};

struct ImageHeader {
    char magic[8];
    uint32_t format;
    uint32_t abi;
    uint64_t total;
    char key[64];
    char header_hash[64];
    uint64_t elf_offset, elf_bytes;
    uint64_t inputs_offset, inputs_bytes;
};
static_assert(sizeof(ImageHeader) == 184, "ImageHeader layout");

struct CompileInputs {
    std::string name, source;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> options;
};

inline void put_string(std::string& out, const std::string& s) {
    const uint64_t n = s.size();
    out.append((const char*)&n, 8);
    out.append(s);
}

inline bool get_string(const char*& p, const char* end, std::string* s) {
    if (end - p < 8) return false;
    uint64_t n;
    memcpy(&n, p, 8);
    p += 8;
    if ((uint64_t)(end - p) < n) return false;
    s->assign(p, (size_t)n);
    p += n;
    return true;
}

inline std::string serialize_inputs(const CompileInputs& in) {
    std::string out;
    put_string(out, in.name);
    put_string(out, in.source);
    put_string(out, std::to_string(in.headers.size()));
    for (const auto& h : in.headers) {
        put_string(out, h.first);
        put_string(out, h.second);
    }
    put_string(out, std::to_string(in.options.size()));
    for (const auto& o : in.options) put_string(out, o);
    return out;
}

inline bool deserialize_inputs(const char* p, size_t n, CompileInputs* in) {
    const char* end = p + n;
    std::string count;
    if (!get_string(p, end, &in->name) || !get_string(p, end, &in->source) || !get_string(p, end, &count))
        return false;
    for (unsigned long i = 0, k = std::stoul(count); i < k; i++) {
        std::pair<std::string, std::string> h;
        if (!get_string(p, end, &h.first) || !get_string(p, end, &h.second)) return false;
        in->headers.push_back(std::move(h));
    }
    if (!get_string(p, end, &count)) return false;
    for (unsigned long i = 0, k = std::stoul(count); i < k; i++) {
        std::string o;
        if (!get_string(p, end, &o)) return false;
        in->options.push_back(std::move(o));
    }
    return true;
}

}  // namespace emu
