// nvrtc.cpp — NVRTC on the emulated device: a kernel file is compiled by the host C++ compiler into a shared object
// that the executor loads.
//
// nvrtcCompileProgram rewrites the source (source_rewrite.cpp), writes it and its headers under the emulator's cache
// (<cache>/modules/<key>/src/, with the file's own name, so compiler messages and a debugger name the .cu file and
// its lines), and runs
//
//   g++ -std=c++17 -O2 -fPIC -shared -ffp-contract=off … -include med2e3_emu.h -x c++ <file>.cu -o module.so
//
// The key is a SHA-256 over the compiler's identity, the device header, the flags and the sources, so a module is
// compiled once per machine and rebuilt when any of them changes. The "CUBIN" handed out is the module image of
// module_image.h. nvrtcVersion reports 99.0, a version no real NVRTC has, so a kernel cache keyed on it never mixes
// emulated images with real ones.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "emu.h"
#include "module_image.h"
#include "source_rewrite.h"

extern char** environ;

namespace emu {

namespace {

enum NvrtcResult : int {
    NVRTC_SUCCESS = 0,
    NVRTC_ERROR_OUT_OF_MEMORY = 1,
    NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4,
    NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
};

struct Program {
    CompileInputs in;
    std::string log;
    std::string image;
    bool compiled = false;
};

bool make_dirs(const std::string& path) {
    for (size_t i = 1; i <= path.size(); i++) {
        if (i < path.size() && path[i] != '/') continue;
        const std::string p = path.substr(0, i);
        if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    return true;
}

bool read_file(const std::string& path, std::string* out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    *out = s.str();
    return true;
}

bool write_file(const std::string& path, const std::string& data) {
    const std::string tmp = format("%s.%d.tmp", path.c_str(), (int)getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return false;
        f.write(data.data(), (std::streamsize)data.size());
        if (!f) return false;
    }
    return rename(tmp.c_str(), path.c_str()) == 0;
}

// Runs argv, collecting stdout and stderr; returns the exit status (−1 when it could not be started).
int run_process(const std::vector<std::string>& argv, std::string* output) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        *output = format("cannot run %s: %s", argv[0].c_str(), strerror(rc));
        return -1;
    }
    char buf[4096];
    for (;;) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) {
            output->append(buf, (size_t)n);
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const std::string& compiler_identity() {
    static std::string id;
    static std::once_flag once;
    std::call_once(once, [] {
        std::string out;
        const int rc = run_process({config().cxx, "--version"}, &out);
        id = rc == 0 ? out.substr(0, out.find('\n')) : "";
        std::string machine;
        if (rc == 0 && run_process({config().cxx, "-dumpmachine"}, &machine) == 0) id += " " + machine;
        while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    });
    return id;
}

// Writes the device header once per content, where the compiler can -include it.
const std::string& header_path() {
    static std::string path;
    static std::once_flag once;
    std::call_once(once, [] {
        const std::string dir = config().cache_dir + "/include/" + header_hash().substr(0, 16);
        path = dir + "/med2e3_emu.h";
        struct stat st;
        if (stat(path.c_str(), &st) != 0 || (size_t)st.st_size != kHeaderSize) {
            make_dirs(dir);
            write_file(path, std::string(kHeaderText, kHeaderSize));
        }
    });
    return path;
}

struct Flags {
    std::vector<std::string> cxx;  // what the options become on the compiler's command line
    std::string error;             // an option NVRTC would refuse
    std::string notes;
};

Flags translate_options(const std::vector<std::string>& options) {
    Flags f;
    std::string standard = "c++17", debug, opt = "-O2";
    std::vector<std::string> defines, includes;
    for (size_t i = 0; i < options.size(); i++) {
        const std::string& o = options[i];
        // --long=V, --long V, -short=V, -short V, and -DV / -IV / -UV
        auto value = [&](const char* longname, const char* shortname, std::string* v) {
            for (const char* nm : {longname, shortname}) {
                if (!nm) continue;
                const size_t ln = strlen(nm);
                if (o.compare(0, ln, nm) != 0) continue;
                if (o.size() == ln && i + 1 < options.size()) {
                    *v = options[++i];
                    return true;
                }
                if (o.size() > ln && o[ln] == '=') {
                    *v = o.substr(ln + 1);
                    return true;
                }
                if (o.size() > ln && ln == 2 && nm[1] != '-') {
                    *v = o.substr(ln);
                    return true;
                }
            }
            return false;
        };
        std::string v;
        if (value("--gpu-architecture", "-arch", &v)) {
            if (v.compare(0, 3, "sm_") != 0 && v.compare(0, 8, "compute_") != 0) {
                f.error = "nvrtc: error: invalid value for --gpu-architecture: " + v;
                return f;
            }
        } else if (value("--std", nullptr, &v) || value("-std", nullptr, &v)) {
            if (v != "c++11" && v != "c++14" && v != "c++17" && v != "c++20") {
                f.error = "nvrtc: error: invalid value for --std: " + v;
                return f;
            }
            standard = v == "c++11" || v == "c++14" ? "c++17" : v;  // the device header needs C++17
        } else if (o == "-lineinfo" || o == "--generate-line-info") {
            if (debug.empty()) debug = "-g1";
        } else if (o == "-G" || o == "--device-debug") {
            debug = "-g";
            opt = "-O0";
        } else if (value("--define-macro", "-D", &v)) {
            defines.push_back("-D" + v);
        } else if (value("--undefine-macro", "-U", &v)) {
            defines.push_back("-U" + v);
        } else if (value("--include-path", "-I", &v)) {
            includes.push_back("-I" + v);
        } else if (value("--ptxas-options", "-Xptxas", &v)) {
            if (v.find("-v") != std::string::npos)
                f.notes += "ptxas info    : the emulated device has no ptxas; no register or spill report\n";
        } else if (o == "-w" || o == "--disable-warnings") {
            defines.push_back("-w");
        } else if (value("--maxrregcount", "-maxrregcount", &v) || value("--fmad", "-fmad", &v) ||
                   value("--ftz", "-ftz", &v) || value("--prec-div", "-prec-div", &v) ||
                   value("--prec-sqrt", "-prec-sqrt", &v) || value("--relocatable-device-code", "-rdc", &v) ||
                   o == "--use_fast_math" || o == "-use_fast_math" || o == "-default-device" ||
                   o == "--device-as-default-execution-space" || o == "-dw" || o == "--extra-device-vectorization" ||
                   o == "-extra-device-vectorization" || o == "--restrict" || o == "-restrict" ||
                   o == "--device-int128" || o == "-device-int128" || o == "-dopt" || o == "--dopt" ||
                   o == "-ewp" || o == "--extensible-whole-program" || o == "--builtin-move-forward=true" ||
                   o == "--builtin-initializer-list=true") {
            // Code generation choices of a GPU compiler; the host build keeps IEEE arithmetic and one register file.
        } else {
            f.error = "nvrtc: error: unrecognized option " + o;
            return f;
        }
    }
    f.cxx = {"-std=" + standard, opt, "-fPIC", "-shared", "-fvisibility=hidden", "-ffp-contract=off",
             "-fno-strict-aliasing", "-fwrapv", "-fno-math-errno", "-fno-exceptions", "-fno-rtti"};
    if (!debug.empty()) f.cxx.push_back(debug);
    f.cxx.insert(f.cxx.end(), defines.begin(), defines.end());
    f.cxx.insert(f.cxx.end(), includes.begin(), includes.end());
    std::istringstream extra(config().cxxflags);
    for (std::string w; extra >> w;) f.cxx.push_back(w);
    return f;
}

bool safe_relative(const std::string& p) {
    return !p.empty() && p[0] != '/' && p.find("..") == std::string::npos;
}

std::mutex g_compile_mu;

}  // namespace

std::string header_hash() {
    static const std::string h = [] {
        Sha256 s;
        s.add_field("abi", std::to_string(MED2E3_EMU_ABI));
        s.add_field("header", std::string(kHeaderText, kHeaderSize));
        return s.hex();
    }();
    return h;
}

const std::string& module_cache_dir() {
    static const std::string d = config().cache_dir + "/modules";
    return d;
}

bool compile_module(const CompileInputs& in, CompiledModule* out) {
    const Flags flags = translate_options(in.options);
    if (!flags.error.empty()) {
        out->log = flags.error + "\n";
        return false;
    }
    if (!safe_relative(in.name)) {
        out->log = "nvrtc: error: the program name " + in.name + " must be a relative file name\n";
        return false;
    }
    // The source and every header are rewritten (a header may declare __shared__ memory or define kernels too);
    // the kernels of the source and of the headers it includes are registered at the end of the source.
    RewrittenSource rs = rewrite_source(in.name, in.source);
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<RewrittenSource::Entry> kernels = rs.kernels;
    std::string notes = flags.notes;
    for (const std::string& n : rs.notes) notes += n + "\n";
    std::vector<std::string> pending = included_names(in.source), seen;
    for (const auto& h : in.headers) {
        RewrittenSource hr = rewrite_source(h.first, h.second);
        for (const std::string& n : hr.notes) notes += n + "\n";
        headers.push_back({h.first, hr.text});
    }
    while (!pending.empty()) {
        const std::string name = pending.back();
        pending.pop_back();
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
        seen.push_back(name);
        for (const auto& h : in.headers) {
            if (h.first != name) continue;
            const RewrittenSource hr = rewrite_source(h.first, h.second);
            kernels.insert(kernels.end(), hr.kernels.begin(), hr.kernels.end());
            for (const std::string& n : included_names(h.second)) pending.push_back(n);
        }
    }
    rs.text += registrations(kernels);
    const std::string cxx_id = compiler_identity();
    if (cxx_id.empty()) {
        out->log = "nvrtc: error: the emulated device compiles kernels with " + config().cxx +
                   ", which could not be run (install g++, or set MED2E3_EMU_CXX)\n";
        return false;
    }
    Sha256 key;
    // The format names the fixed part of the command line below (prefix map, -include, -x c++): change it with them.
    key.add_field("format", "med2e3-emu-module-v2");
    key.add_field("compiler", cxx_id);
    key.add_field("header", header_hash());
    for (const std::string& f : flags.cxx) key.add_field("flag", f);
    key.add_field("name", in.name);
    key.add_field("source", rs.text);
    std::sort(headers.begin(), headers.end());
    for (const auto& h : headers) {
        if (!safe_relative(h.first)) {
            out->log = "nvrtc: error: the header name " + h.first + " must be a relative file name\n";
            return false;
        }
        key.add_field("header-name", h.first);
        key.add_field("header-text", h.second);
    }
    out->key = key.hex();
    const std::string dir = module_cache_dir() + "/" + out->key;
    out->so_path = dir + "/module.so";
    std::lock_guard<std::mutex> g(g_compile_mu);
    struct stat st;
    if (stat(out->so_path.c_str(), &st) == 0) {
        std::string log;
        read_file(dir + "/compile.log", &log);
        out->log = notes + log;
        return true;
    }
    const std::string srcdir = dir + "/src";
    if (!make_dirs(srcdir)) {
        out->log = "nvrtc: error: cannot create " + srcdir + ": " + strerror(errno) + "\n";
        return false;
    }
    for (const auto& h : headers) {
        const std::string p = srcdir + "/" + h.first;
        make_dirs(p.substr(0, p.rfind('/')));
        write_file(p, h.second);
    }
    const std::string src_path = srcdir + "/" + in.name;
    make_dirs(src_path.substr(0, src_path.rfind('/')));
    if (!write_file(src_path, rs.text)) {
        out->log = "nvrtc: error: cannot write " + src_path + "\n";
        return false;
    }
    std::vector<std::string> argv = {config().cxx};
    argv.insert(argv.end(), flags.cxx.begin(), flags.cxx.end());
    const std::string tmp = format("%s.%d.tmp", out->so_path.c_str(), (int)getpid());
    // __FILE__ (device asserts) names the file as the caller did; the debug information keeps the full path.
    argv.insert(argv.end(), {"-fmacro-prefix-map=" + srcdir + "/=", "-include", header_path(), "-I" + srcdir, "-x",
                             "c++", src_path, "-o", tmp});
    std::string log;
    const int rc = run_process(argv, &log);
    // Messages name the file as the caller named it, not the cache folder.
    for (size_t at; (at = log.find(srcdir + "/")) != std::string::npos;) log.erase(at, srcdir.size() + 1);
    if (rc != 0) {
        unlink(tmp.c_str());
        out->log = notes + log + (rc < 0 ? "" : format("nvrtc: error: %s exited with status %d\n", config().cxx.c_str(), rc));
        return false;
    }
    if (kernels.empty()) notes += in.name + ": warning: no extern \"C\" __global__ definition to launch\n";
    write_file(dir + "/compile.log", log);
    if (rename(tmp.c_str(), out->so_path.c_str()) != 0) {
        out->log = notes + log + "nvrtc: error: cannot store " + out->so_path + "\n";
        return false;
    }
    // A symbol the module needs and nothing provides (a device function the emulator lacks) is a compile error
    // here, as it would be for NVRTC, rather than a failure when the module is loaded.
    export_runtime_symbols();
    if (!dlopen(out->so_path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        const std::string why = dlerror();
        unlink(out->so_path.c_str());
        out->log = notes + log + "nvrtc: error: the compiled module does not link: " + why + "\n";
        return false;
    }
    out->log = notes + log;
    return true;
}

// ---- the NVRTC entry points ----------------------------------------------------------------------------------------
EMU_EXPORT const char* nvrtcGetErrorString(int r) {
    switch (r) {
        case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
        case NVRTC_ERROR_OUT_OF_MEMORY: return "NVRTC_ERROR_OUT_OF_MEMORY";
        case NVRTC_ERROR_PROGRAM_CREATION_FAILURE: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
        case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
        case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
        case NVRTC_ERROR_INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
        case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
        case NVRTC_ERROR_INTERNAL_ERROR: return "NVRTC_ERROR_INTERNAL_ERROR";
        default: return "NVRTC_ERROR unknown";
    }
}

EMU_EXPORT int nvrtcVersion(int* major, int* minor) {
    if (!major || !minor) return NVRTC_ERROR_INVALID_INPUT;
    *major = 99;
    *minor = 0;
    return NVRTC_SUCCESS;
}

static const int kArchs[] = {75, 80, 86, 87, 89, 90};

EMU_EXPORT int nvrtcGetNumSupportedArchs(int* n) {
    if (!n) return NVRTC_ERROR_INVALID_INPUT;
    *n = (int)(sizeof kArchs / sizeof kArchs[0]);
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetSupportedArchs(int* archs) {
    if (!archs) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(archs, kArchs, sizeof kArchs);
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcCreateProgram(void** prog, const char* src, const char* name, int num_headers,
                                  const char* const* headers, const char* const* include_names) {
    if (!prog || !src || num_headers < 0 || (num_headers > 0 && (!headers || !include_names)))
        return NVRTC_ERROR_INVALID_INPUT;
    Program* p = new Program();
    p->in.name = name && *name ? name : "default_program";
    p->in.source = src;
    for (int i = 0; i < num_headers; i++) {
        if (!headers[i] || !include_names[i]) {
            delete p;
            return NVRTC_ERROR_INVALID_INPUT;
        }
        p->in.headers.push_back({include_names[i], headers[i]});
    }
    *prog = p;
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcDestroyProgram(void** prog) {
    if (!prog) return NVRTC_ERROR_INVALID_INPUT;
    delete (Program*)*prog;
    *prog = nullptr;
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcCompileProgram(void* prog, int num_options, const char* const* options) {
    Program* p = (Program*)prog;
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (num_options < 0 || (num_options > 0 && !options)) return NVRTC_ERROR_INVALID_INPUT;
    p->in.options.clear();
    for (int i = 0; i < num_options; i++) p->in.options.push_back(options[i] ? options[i] : "");
    p->compiled = false;
    const Flags f = translate_options(p->in.options);
    if (!f.error.empty()) {
        p->log = f.error + "\n";
        return NVRTC_ERROR_INVALID_OPTION;
    }
    CompiledModule m;
    if (!compile_module(p->in, &m)) {
        p->log = m.log;
        return NVRTC_ERROR_COMPILATION;
    }
    std::string elf;
    if (!read_file(m.so_path, &elf)) {
        p->log = m.log + "nvrtc: error: cannot read " + m.so_path + "\n";
        return NVRTC_ERROR_INTERNAL_ERROR;
    }
    const std::string inputs = serialize_inputs(p->in);
    ImageHeader h = {};
    memcpy(h.magic, kImageMagic, sizeof h.magic);
    h.format = 1;
    h.abi = MED2E3_EMU_ABI;
    memcpy(h.key, m.key.data(), 64);
    memcpy(h.header_hash, header_hash().data(), 64);
    h.elf_offset = sizeof h;
    h.elf_bytes = elf.size();
    h.inputs_offset = h.elf_offset + elf.size();
    h.inputs_bytes = inputs.size();
    h.total = h.inputs_offset + inputs.size();
    p->image.assign((const char*)&h, sizeof h);
    p->image += elf;
    p->image += inputs;
    p->log = m.log;
    p->compiled = true;
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetProgramLogSize(void* prog, size_t* n) {
    Program* p = (Program*)prog;
    if (!p || !n) return NVRTC_ERROR_INVALID_INPUT;
    *n = p->log.size() + 1;
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetProgramLog(void* prog, char* log) {
    Program* p = (Program*)prog;
    if (!p || !log) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(log, p->log.c_str(), p->log.size() + 1);
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetCUBINSize(void* prog, size_t* n) {
    Program* p = (Program*)prog;
    if (!p || !n) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *n = p->image.size();
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetCUBIN(void* prog, char* cubin) {
    Program* p = (Program*)prog;
    if (!p || !cubin) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    memcpy(cubin, p->image.data(), p->image.size());
    return NVRTC_SUCCESS;
}

namespace {
std::string ptx_text(const Program* p) {
    return "// " + p->in.name + ": the emulated device runs host code compiled by " + config().cxx +
           "; there is no PTX.\n";
}
}  // namespace

EMU_EXPORT int nvrtcGetPTXSize(void* prog, size_t* n) {
    Program* p = (Program*)prog;
    if (!p || !n) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *n = ptx_text(p).size() + 1;
    return NVRTC_SUCCESS;
}

EMU_EXPORT int nvrtcGetPTX(void* prog, char* ptx) {
    Program* p = (Program*)prog;
    if (!p || !ptx) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    const std::string t = ptx_text(p);
    memcpy(ptx, t.c_str(), t.size() + 1);
    return NVRTC_SUCCESS;
}

}  // namespace emu
