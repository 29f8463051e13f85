// source_rewrite.cpp — what the compile step changes in a kernel file before the host compiler sees it.
//
// The scanner works on a mask of the source in which comments, string and character literals and preprocessor
// lines are blanked (newlines kept), so every offset in the mask is an offset in the source. It tracks braces to
// know whether a declaration is inside a function body, and rewrites:
//
//   __shared__ float s[32], t[8];          →  float (&s)[32] = ::emu::shared_ref<float[32]>([]{}, "s", 0); …
//   extern __shared__ __align__(16) T x[]; →  T* const x = (T*)::emu::dynamic_smem();
//
// keeping the number of lines, so compiler messages and a debugger point at the lines of the .cu file. Each
// extern "C" __global__ definition is registered by a line appended after the source (med2e3_emu.h).
#include "source_rewrite.h"

#include <ctype.h>
#include <string.h>

#include <algorithm>

namespace emu {

namespace {

struct Token {
    size_t begin, end;
    std::string text;  // from the mask: identifiers, numbers, one punctuation character, "::", or a literal's quotes
    bool literal;      // a string literal (its text in the mask is blank)
};

std::string make_mask(const std::string& s) {
    std::string m = s;
    const size_t n = s.size();
    size_t i = 0;
    bool line_start = true;
    while (i < n) {
        const char c = s[i];
        if (c == '\n') {
            line_start = true;
            i++;
            continue;
        }
        if (line_start && (c == ' ' || c == '\t')) {
            i++;
            continue;
        }
        if (line_start && c == '#') {  // a preprocessor line, with its continuations
            while (i < n && s[i] != '\n') {
                if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\n') {
                    m[i] = ' ';
                    i += 2;
                    continue;
                }
                m[i++] = ' ';
            }
            continue;
        }
        line_start = false;
        if (c == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') m[i++] = ' ';
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            m[i++] = ' ';
            m[i++] = ' ';
            while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) {
                if (s[i] != '\n') m[i] = ' ';
                i++;
            }
            if (i < n) {
                m[i++] = ' ';
                m[i++] = ' ';
            }
            continue;
        }
        if (c == '"' || c == '\'') {
            // R"delim( … )delim" raw strings
            if (c == '"' && i > 0 && s[i - 1] == 'R') {
                const size_t open = s.find('(', i);
                if (open != std::string::npos) {
                    const std::string close = ")" + s.substr(i + 1, open - i - 1) + "\"";
                    const size_t end = s.find(close, open);
                    const size_t stop = end == std::string::npos ? n : end + close.size() - 1;
                    for (size_t k = i + 1; k < stop; k++)
                        if (s[k] != '\n') m[k] = ' ';
                    i = stop + 1;
                    continue;
                }
            }
            i++;
            while (i < n && s[i] != c && s[i] != '\n') {
                if (s[i] == '\\' && i + 1 < n) m[i++] = ' ';
                m[i++] = ' ';
            }
            i++;
            continue;
        }
        i++;
    }
    return m;
}

std::vector<Token> tokenize(const std::string& m) {
    std::vector<Token> t;
    const size_t n = m.size();
    size_t i = 0;
    while (i < n) {
        const char c = m[i];
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        const size_t b = i;
        if (isalpha((unsigned char)c) || c == '_') {
            while (i < n && (isalnum((unsigned char)m[i]) || m[i] == '_')) i++;
        } else if (isdigit((unsigned char)c)) {
            while (i < n && (isalnum((unsigned char)m[i]) || m[i] == '.' || m[i] == '_' || m[i] == '\'')) i++;
        } else if (c == '"' || c == '\'') {
            const size_t close = m.find(c, i + 1);
            i = close == std::string::npos ? n : close + 1;
            t.push_back({b, i, m.substr(b, i - b), c == '"'});
            continue;
        } else if (c == ':' && i + 1 < n && m[i + 1] == ':') {
            i += 2;
        } else {
            i++;
        }
        t.push_back({b, i, m.substr(b, i - b), false});
    }
    return t;
}

int line_of(const std::string& s, size_t at) { return 1 + (int)std::count(s.begin(), s.begin() + (long)at, '\n'); }

// Index of the token that closes the group opened at `open` ("(" or "["), or t.size().
size_t match(const std::vector<Token>& t, size_t open) {
    const std::string o = t[open].text, c = o == "(" ? ")" : o == "[" ? "]" : o == "<" ? ">" : "}";
    int depth = 0;
    for (size_t i = open; i < t.size(); i++) {
        if (t[i].text == o) depth++;
        if (t[i].text == c && --depth == 0) return i;
    }
    return t.size();
}

std::string span(const std::string& m, const std::vector<Token>& t, size_t first, size_t last_excl) {
    if (first >= last_excl) return "";
    std::string out = m.substr(t[first].begin, t[last_excl - 1].end - t[first].begin);
    for (char& ch : out)
        if (ch == '\n') ch = ' ';
    return out;
}

// The text of the first top-level argument of the group opened at `open`: the thread count of
// __launch_bounds__(threads, blocks).
std::string first_argument(const std::string& m, const std::vector<Token>& t, size_t open) {
    const size_t close = match(t, open);
    size_t comma = open + 1;
    int depth = 0;
    for (; comma < close; comma++) {
        if (t[comma].text == "(" || t[comma].text == "<") depth++;
        if (t[comma].text == ")" || t[comma].text == ">") depth--;
        if (t[comma].text == "," && depth == 0) break;
    }
    return span(m, t, open + 1, comma);
}

struct Edit {
    size_t begin, end;
    std::string text;
};

enum Scope { NAMESPACE, EXTERN_C, OTHER, CODE };
struct Brace {
    Scope scope;
    std::string name;  // of a named namespace
};

}  // namespace

RewrittenSource rewrite_source(const std::string& name, const std::string& src) {
    RewrittenSource r;
    const std::string m = make_mask(src);
    const std::vector<Token> t = tokenize(m);
    std::vector<Brace> stack;
    std::vector<Edit> edits;
    auto in_code = [&] {
        for (const Brace& b : stack)
            if (b.scope == CODE) return true;
        return false;
    };
    auto in_extern_c = [&] {
        for (const Brace& b : stack)
            if (b.scope == EXTERN_C) return true;
        return false;
    };
    auto is_c_literal = [&](size_t i) { return t[i].literal && src.compare(t[i].begin, t[i].end - t[i].begin, "\"C\"") == 0; };
    auto note = [&](size_t at, const std::string& what) {
        r.notes.push_back(name + ":" + std::to_string(line_of(src, at)) + ": " + what);
    };
    size_t decl_start = 0;  // first token of the current declaration or statement
    for (size_t i = 0; i < t.size(); i++) {
        const std::string& x = t[i].text;
        if (x == "{") {
            Brace b{OTHER, ""};
            const std::string prev = i > 0 ? t[i - 1].text : "";
            if (in_code() || prev == ")" || prev == "]" || prev == "const" || prev == "noexcept" ||
                prev == "override" || prev == "final" || prev == "mutable" || prev == "else" || prev == "do" ||
                prev == "try") {
                b.scope = CODE;
            } else if (i >= 2 && t[i - 2].text == "namespace") {
                b.scope = NAMESPACE;
                b.name = prev;
            } else if (prev == "namespace") {
                b.scope = NAMESPACE;
                b.name = "";
            } else if (i >= 2 && t[i - 2].text == "extern" && is_c_literal(i - 1)) {
                b.scope = EXTERN_C;
            }
            stack.push_back(b);
            decl_start = i + 1;
            continue;
        }
        if (x == "}") {
            if (!stack.empty()) stack.pop_back();
            decl_start = i + 1;
            continue;
        }
        if (x == ";") {
            decl_start = i + 1;
            continue;
        }
        if (x == "__global__" && !in_code()) {
            bool extern_c = in_extern_c(), templ = false;
            std::string bounds = "1024";
            size_t k = decl_start;
            for (; k < i; k++) {
                if (t[k].text == "extern" && k + 1 < t.size() && is_c_literal(k + 1)) extern_c = true;
                if (t[k].text == "template") templ = true;
                if (t[k].text == "__launch_bounds__" && k + 1 < t.size() && t[k + 1].text == "(")
                    bounds = first_argument(m, t, k + 1);
            }
            // the name: the identifier followed by "(" (skipping __launch_bounds__(…) and __attribute__((…)))
            size_t j = i + 1;
            std::string kname;
            size_t name_tok = 0;
            for (; j + 1 < t.size(); j++) {
                if (t[j].text == ";" || t[j].text == "{") break;
                if ((t[j].text == "__launch_bounds__" || t[j].text == "__attribute__") && t[j + 1].text == "(") {
                    if (t[j].text == "__launch_bounds__") bounds = first_argument(m, t, j + 1);
                    j = match(t, j + 1);
                    continue;
                }
                if ((isalpha((unsigned char)t[j].text[0]) || t[j].text[0] == '_') && t[j + 1].text == "(") {
                    kname = t[j].text;
                    name_tok = j;
                    break;
                }
            }
            if (kname.empty()) continue;
            const size_t close = match(t, name_tok + 1);
            const bool definition = close + 1 < t.size() && t[close + 1].text == "{";
            if (!definition) continue;
            if (templ) {
                note(t[i].begin, "warning: the template kernel " + kname +
                                     " cannot be launched on the emulated device (only extern \"C\" definitions are "
                                     "registered)");
                continue;
            }
            if (!extern_c) {
                note(t[i].begin, "warning: the kernel " + kname +
                                     " is not extern \"C\"; the emulated device registers only extern \"C\" kernels");
                continue;
            }
            std::string qualified;
            for (const Brace& b : stack)
                if (b.scope == NAMESPACE) {
                    if (b.name.empty()) {
                        qualified = "?";
                        break;
                    }
                    qualified += b.name + "::";
                }
            if (qualified == "?") {
                note(t[i].begin, "warning: the kernel " + kname + " is in an anonymous namespace and is not registered");
                continue;
            }
            r.kernels.push_back({"::" + qualified + kname, kname, bounds});
            continue;
        }
        if (x != "__shared__") continue;

        const bool dynamic = i > 0 && t[i - 1].text == "extern";
        size_t j = i + 1;
        std::string align = "0";
        if (j + 1 < t.size() && (t[j].text == "__align__" || t[j].text == "alignas") && t[j + 1].text == "(") {
            const size_t close = match(t, j + 1);
            align = span(m, t, j + 2, close);
            j = close + 1;
        }
        size_t end = j;  // the ";" of the declaration
        int depth = 0;
        bool init = false;
        for (; end < t.size(); end++) {
            const std::string& y = t[end].text;
            if (y == "(" || y == "[" || y == "{") depth++;
            if (y == ")" || y == "]" || y == "}") depth--;
            if (depth == 0 && y == "=") init = true;
            if (depth <= 0 && y == ";") break;
        }
        if (end >= t.size()) continue;
        const size_t first = dynamic ? i - 1 : i;
        size_t range_begin = t[first].begin;
        std::string qualifiers;
        if (!dynamic && first > 0 && (t[first - 1].text == "static" || t[first - 1].text == "volatile")) {
            // `static __shared__` is redundant in CUDA and must not make the reference static here
            if (t[first - 1].text == "volatile") qualifiers = "volatile ";
            range_begin = t[first - 1].begin;
        }
        const size_t newlines = (size_t)std::count(src.begin() + (long)range_begin, src.begin() + (long)t[end].end, '\n');
        const std::string keep_lines(newlines, '\n');
        if (dynamic) {
            // extern __shared__ T name[];
            if (end < j + 4 || t[end - 1].text != "]" || t[end - 2].text != "[") {
                note(t[i].begin, "warning: an extern __shared__ declaration the emulator does not understand");
                continue;
            }
            const std::string type = span(m, t, j, end - 3), var = t[end - 3].text;
            edits.push_back({range_begin, t[end].end,
                             type + "* const " + var + " = (" + type + "*)::emu::dynamic_smem();" + keep_lines});
            r.dynamic_shared++;
            continue;
        }
        if (!in_code()) {
            note(t[i].begin, "warning: __shared__ outside a function is per worker thread on the emulated device, "
                             "neither poisoned nor checked");
            continue;
        }
        if (init) {
            note(t[i].begin, "warning: a __shared__ variable with an initialiser is not rewritten");
            continue;
        }
        // Split the declarators at top-level commas; the first one also carries the type.
        std::vector<std::pair<size_t, size_t>> decls;
        size_t start = j;
        depth = 0;
        for (size_t k = j; k <= end; k++) {
            const std::string& y = t[k].text;
            if (y == "(" || y == "[" || y == "<") depth++;
            if (y == ")" || y == "]" || y == ">") depth--;
            if ((y == "," && depth == 0) || k == end) {
                decls.push_back({start, k});
                start = k + 1;
            }
        }
        std::string type, out;
        bool ok = true;
        for (size_t d = 0; d < decls.size() && ok; d++) {
            size_t a = decls[d].first, b = decls[d].second;
            size_t bracket = a;
            while (bracket < b && t[bracket].text != "[") bracket++;
            if (bracket == a) {
                ok = false;
                break;
            }
            const size_t var = bracket - 1;
            size_t stars = var;
            while (stars > a && (t[stars - 1].text == "*" || t[stars - 1].text == "&")) stars--;
            if (d == 0) {
                type = qualifiers + span(m, t, a, stars);
                if (type.empty() || stars == a) {
                    ok = false;
                    break;
                }
            } else if (stars != a) {
                // a later declarator has nothing but pointers before its name
                ok = stars == a;
            }
            const std::string ptrs = span(m, t, stars, var), dims = span(m, t, bracket, b);
            const std::string full = type + ptrs + dims;
            out += type + ptrs + " (&" + t[var].text + ")" + dims + " = ::emu::shared_ref<" + full + ">([]{}, \"" +
                   t[var].text + "\", " + align + ");";
            if (d + 1 < decls.size()) out += " ";
            r.static_shared++;
        }
        if (!ok) {
            note(t[i].begin, "warning: a __shared__ declaration the emulator does not understand is not rewritten");
            continue;
        }
        edits.push_back({range_begin, t[end].end, out + keep_lines});
    }

    size_t at = 0;
    for (const Edit& e : edits) {
        r.text.append(src, at, e.begin - at);
        r.text += e.text;
        at = e.end;
    }
    r.text.append(src, at, std::string::npos);
    return r;
}

std::string registrations(const std::vector<RewrittenSource::Entry>& kernels) {
    std::string out = "\n// ---- registered by the emulator's compile step: one line per extern \"C\" __global__ definition\n";
    for (size_t k = 0; k < kernels.size(); k++)
        out += "MED2E3_EMU_KERNEL(" + std::to_string(k) + ", &" + kernels[k].qualified + ", \"" + kernels[k].name +
               "\", " + kernels[k].bounds + ")\n";
    return out;
}

std::vector<std::string> included_names(const std::string& src) {
    std::vector<std::string> names;
    size_t at = 0;
    while (at < src.size()) {
        size_t end = src.find('\n', at);
        if (end == std::string::npos) end = src.size();
        size_t i = at;
        while (i < end && (src[i] == ' ' || src[i] == '\t')) i++;
        if (i < end && src[i] == '#') {
            i++;
            while (i < end && (src[i] == ' ' || src[i] == '\t')) i++;
            if (src.compare(i, 7, "include") == 0) {
                i += 7;
                while (i < end && (src[i] == ' ' || src[i] == '\t')) i++;
                if (i < end && (src[i] == '"' || src[i] == '<')) {
                    const char close = src[i] == '"' ? '"' : '>';
                    const size_t stop = src.find(close, i + 1);
                    if (stop != std::string::npos && stop < end) names.push_back(src.substr(i + 1, stop - i - 1));
                }
            }
        }
        at = end + 1;
    }
    return names;
}

}  // namespace emu
