// blas.cpp — cuBLAS and cuBLASLt on the emulated device, with the semantics the backend relies on: column-major
// operands, every transposition, leading dimensions and batch strides, f32 / bf16 / f16 storage with f32 compute
// (TF32 rounding of the inputs for CUBLAS_COMPUTE_32F_FAST_TF32), alpha and beta on the host, beta = 0 never reading
// C (it may hold NaN), and the cuBLASLt epilogues BIAS, RELU(_BIAS) and GELU(_BIAS) (the tanh form of GELU).
//
// A product is queued on the handle's stream like a kernel and runs on the worker threads with faults caught. Its
// operands are checked against the device allocations first: a range that leaves its allocation is reported as the
// illegal address it would be on a GPU (a sticky error naming the call and the operand).
#include <math.h>
#include <string.h>

#include <algorithm>
#include <memory>

#include "emu.h"

namespace emu {

namespace {

enum Status : int {
    SUCCESS = 0,
    STATUS_NOT_INITIALIZED = 1,
    ALLOC_FAILED = 3,
    STATUS_INVALID_VALUE = 7,
    EXECUTION_FAILED = 13,
    STATUS_NOT_SUPPORTED = 15,
};
enum DataType : int { R_32F = 0, R_64F = 1, R_16F = 2, R_16BF = 14 };
enum Compute : int {
    COMPUTE_32F = 68,
    COMPUTE_32F_PEDANTIC = 69,
    COMPUTE_32F_FAST_16F = 74,
    COMPUTE_32F_FAST_16BF = 75,
    COMPUTE_32F_FAST_TF32 = 77,
};
enum Epilogue : unsigned {
    EPI_DEFAULT = 1,
    EPI_RELU = 2,
    EPI_BIAS = 4,
    EPI_RELU_BIAS = 6,
    EPI_GELU = 32,
    EPI_GELU_BIAS = 36,
};

size_t type_size(int t) { return t == R_32F ? 4 : t == R_64F ? 8 : (t == R_16F || t == R_16BF) ? 2 : 0; }

float bf16_to_f32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float tf32(float f) {  // round to 10 mantissa bits, nearest even (NaN and infinity unchanged)
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return f;
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    memcpy(&f, &u, 4);
    return f;
}

inline float load(const void* p, int t, size_t i) {
    switch (t) {
        case R_32F: return ((const float*)p)[i];
        case R_16BF: return bf16_to_f32(((const uint16_t*)p)[i]);
        case R_16F: return f16_to_f32(((const uint16_t*)p)[i]);
        default: return (float)((const double*)p)[i];
    }
}
inline void store(void* p, int t, size_t i, float v) {
    switch (t) {
        case R_32F: ((float*)p)[i] = v; break;
        case R_16BF: ((uint16_t*)p)[i] = f32_to_bf16(v); break;
        case R_16F: ((uint16_t*)p)[i] = f32_to_f16(v); break;
        default: ((double*)p)[i] = v;
    }
}

// One matrix operand: element (r, c) of the stored matrix is at r·rs + c·cs (column-major: rs = 1, cs = ld).
struct Operand {
    uint64_t ptr = 0;
    int type = R_32F;
    int64_t rs = 1, cs = 1;
    int64_t rows = 0, cols = 0;  // as stored
    int64_t batch_stride = 0;
    bool trans = false;
};

// The whole problem of one call: D (m×n) = epilogue(alpha·op(A)·op(B) + beta·C) for each of `batch` products.
struct Problem {
    const char* call;
    int64_t m = 0, n = 0, k = 0, batch = 1;
    Operand a, b, c, d;
    float alpha = 1, beta = 0;
    bool tf32 = false;
    unsigned epilogue = EPI_DEFAULT;
    uint64_t bias = 0;
    int bias_type = R_32F;
    int64_t bias_stride = 0;
};

// Checks that every element an operand can name lies in one device allocation.
bool check_operand(const Problem& p, const char* which, const Operand& o, std::string* why) {
    if (o.rows == 0 || o.cols == 0) return true;
    const size_t es = type_size(o.type);
    const int64_t last = (o.rows - 1) * o.rs + (o.cols - 1) * o.cs + (p.batch - 1) * o.batch_stride;
    std::string reason;
    if (mem_check_range(o.ptr, (size_t)(last + 1) * es, &reason)) return true;
    *why = format("%s: operand %s (%lld×%lld stored, %lld batch%s, batch stride %lld) is outside device memory: %s",
                  p.call, which, (long long)o.rows, (long long)o.cols, (long long)p.batch, p.batch == 1 ? "" : "es",
                  (long long)o.batch_stride, reason.c_str());
    return false;
}

float gelu_tanh(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))); }

thread_local std::vector<float> t_a, t_b;

// Runs the product on the workers: one work item is a block of columns of one batch's D.
Result run_problem(const Problem& p) {
    const int64_t chunk = std::max<int64_t>(8, (p.n + 2 * worker_count() - 1) / (2 * worker_count()));
    const int64_t per_batch = (p.n + chunk - 1) / chunk;
    std::string message;
    const Result r = run_parallel(p.batch * per_batch, 1, p.call, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; item++) {
            const int64_t bt = item / per_batch, j0 = item % per_batch * chunk, j1 = std::min(p.n, j0 + chunk);
            const char* A = (const char*)(uintptr_t)p.a.ptr + bt * p.a.batch_stride * (int64_t)type_size(p.a.type);
            const char* B = (const char*)(uintptr_t)p.b.ptr + bt * p.b.batch_stride * (int64_t)type_size(p.b.type);
            const char* C = (const char*)(uintptr_t)p.c.ptr + bt * p.c.batch_stride * (int64_t)type_size(p.c.type);
            char* D = (char*)(uintptr_t)p.d.ptr + bt * p.d.batch_stride * (int64_t)type_size(p.d.type);
            // op(A) row i as a contiguous run of k values; op(B) column j likewise.
            std::vector<float>& ap = t_a;
            std::vector<float>& bp = t_b;
            ap.resize((size_t)(p.m * p.k));
            bp.resize((size_t)((j1 - j0) * p.k));
            for (int64_t i = 0; i < p.m; i++)
                for (int64_t q = 0; q < p.k; q++) {
                    const int64_t r0 = p.a.trans ? q : i, c0 = p.a.trans ? i : q;
                    const float v = load(A, p.a.type, (size_t)(r0 * p.a.rs + c0 * p.a.cs));
                    ap[(size_t)(i * p.k + q)] = p.tf32 ? tf32(v) : v;
                }
            for (int64_t j = j0; j < j1; j++)
                for (int64_t q = 0; q < p.k; q++) {
                    const int64_t r0 = p.b.trans ? j : q, c0 = p.b.trans ? q : j;
                    const float v = load(B, p.b.type, (size_t)(r0 * p.b.rs + c0 * p.b.cs));
                    bp[(size_t)((j - j0) * p.k + q)] = p.tf32 ? tf32(v) : v;
                }
            for (int64_t j = j0; j < j1; j++) {
                const float* bj = &bp[(size_t)((j - j0) * p.k)];
                for (int64_t i = 0; i < p.m; i++) {
                    const float* ai = &ap[(size_t)(i * p.k)];
                    // eight partial sums: an order the compiler can vectorise (cuBLAS's own order is unspecified)
                    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    int64_t q = 0;
                    for (; q + 8 <= p.k; q += 8)
                        for (int u = 0; u < 8; u++) s[u] = fmaf(ai[q + u], bj[q + u], s[u]);
                    for (; q < p.k; q++) s[0] = fmaf(ai[q], bj[q], s[0]);
                    const float acc = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
                    float v = p.alpha * acc;
                    if (p.beta != 0.0f) v += p.beta * load(C, p.c.type, (size_t)(i * p.c.rs + j * p.c.cs));
                    if (p.epilogue == EPI_BIAS || p.epilogue == EPI_RELU_BIAS || p.epilogue == EPI_GELU_BIAS) {
                        const char* bias = (const char*)(uintptr_t)p.bias +
                                           bt * p.bias_stride * (int64_t)type_size(p.bias_type);
                        v += load(bias, p.bias_type, (size_t)i);
                    }
                    if (p.epilogue == EPI_RELU || p.epilogue == EPI_RELU_BIAS) v = v > 0.0f ? v : 0.0f;
                    if (p.epilogue == EPI_GELU || p.epilogue == EPI_GELU_BIAS) v = gelu_tanh(v);
                    store(D, p.d.type, (size_t)(i * p.d.rs + j * p.d.cs), v);
                }
            }
        }
    }, &message);
    if (r != OK) set_sticky(r, message);
    return r;
}

// Checks the operands and queues the product on the stream.
int submit(void* stream, const Problem& p) {
    if (sticky_error() != OK) return EXECUTION_FAILED;
    if (p.m == 0 || p.n == 0 || p.batch == 0) return SUCCESS;
    std::string why;
    bool ok = check_operand(p, "A", p.a, &why) && check_operand(p, "B", p.b, &why) &&
              (p.beta == 0.0f || check_operand(p, "C", p.c, &why)) && check_operand(p, "D", p.d, &why);
    if (ok && (p.epilogue & EPI_BIAS)) {
        Operand bias;
        bias.ptr = p.bias;
        bias.type = p.bias_type;
        bias.rows = p.m;
        bias.cols = 1;
        bias.batch_stride = p.bias_stride;
        ok = check_operand(p, "bias", bias, &why);
    }
    if (!ok) {
        log_line(why);
        set_sticky(ILLEGAL_ADDRESS, why);
        return SUCCESS;  // asynchronous, as a kernel fault: the next synchronisation reports it
    }
    auto copy = std::make_shared<Problem>(p);
    const Result r = enqueue(resolve_stream(stream), p.call, [copy] { return run_problem(*copy); });
    return r == OK ? SUCCESS : r == STREAM_CAPTURE_UNSUPPORTED ? STATUS_NOT_SUPPORTED : EXECUTION_FAILED;
}

bool compute_ok(int compute, bool* tf32) {
    *tf32 = compute == COMPUTE_32F_FAST_TF32;
    return compute == COMPUTE_32F || compute == COMPUTE_32F_PEDANTIC || compute == COMPUTE_32F_FAST_TF32 ||
           compute == COMPUTE_32F_FAST_16F || compute == COMPUTE_32F_FAST_16BF;
}

// The storage type combinations of cublasGemmEx with a 32-bit float compute type.
bool types_ok(int a, int b, int c) {
    if (a != b) return false;
    if (a == R_32F) return c == R_32F;
    if (a == R_16BF || a == R_16F) return c == a || c == R_32F;
    return false;
}

struct Handle {
    void* stream = nullptr;
    int math = 0;
};

int gemm(const char* call, void* handle, int ta, int tb, int m, int n, int k, const void* alpha, uint64_t A, int at,
         int lda, long long sa, uint64_t B, int bt, int ldb, long long sb, const void* beta, uint64_t C, int ct,
         int ldc, long long sc, int batch, int compute) {
    Handle* h = (Handle*)handle;
    if (!h) return STATUS_NOT_INITIALIZED;
    Problem p;
    p.call = call;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || !alpha || !beta || (ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return STATUS_INVALID_VALUE;
    if (!compute_ok(compute, &p.tf32) || !types_ok(at, bt, ct)) return STATUS_NOT_SUPPORTED;
    p.tf32 = p.tf32 && at == R_32F;
    const int arows = ta ? k : m, brows = tb ? n : k;
    if (lda < std::max(1, arows) || ldb < std::max(1, brows) || ldc < std::max(1, m)) return STATUS_INVALID_VALUE;
    if (sa < 0 || sb < 0 || sc < 0) return STATUS_INVALID_VALUE;
    p.m = m;
    p.n = n;
    p.k = k;
    p.batch = batch;
    memcpy(&p.alpha, alpha, 4);
    memcpy(&p.beta, beta, 4);
    p.a = {A, at, 1, lda, ta ? k : m, ta ? m : k, sa, ta == 1};
    p.b = {B, bt, 1, ldb, tb ? n : k, tb ? k : n, sb, tb == 1};
    p.c = {C, ct, 1, ldc, m, n, sc, false};
    p.d = p.c;
    return submit(h->stream, p);
}

}  // namespace

// ---- cuBLAS ------------------------------------------------------------------------------------------------------
EMU_EXPORT int cublasCreate_v2(void** handle) {
    if (!handle) return STATUS_INVALID_VALUE;
    *handle = new Handle();
    return SUCCESS;
}

EMU_EXPORT int cublasDestroy_v2(void* handle) {
    delete (Handle*)handle;
    return SUCCESS;
}

EMU_EXPORT int cublasGetVersion_v2(void* handle, int* version) {
    if (!handle || !version) return STATUS_INVALID_VALUE;
    *version = 120800;
    return SUCCESS;
}

EMU_EXPORT const char* cublasGetStatusName(int s) {
    switch (s) {
        case SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

EMU_EXPORT int cublasSetStream_v2(void* handle, void* stream) {
    Handle* h = (Handle*)handle;
    if (!h) return STATUS_NOT_INITIALIZED;
    h->stream = stream;
    return SUCCESS;
}

EMU_EXPORT int cublasSetWorkspace_v2(void* handle, uint64_t workspace, size_t bytes) {
    (void)workspace;
    (void)bytes;
    return handle ? SUCCESS : STATUS_NOT_INITIALIZED;  // the emulated products need no workspace
}

EMU_EXPORT int cublasSetMathMode(void* handle, int mode) {
    Handle* h = (Handle*)handle;
    if (!h) return STATUS_NOT_INITIALIZED;
    h->math = mode;
    return SUCCESS;
}

EMU_EXPORT int cublasGemmEx(void* handle, int ta, int tb, int m, int n, int k, const void* alpha, uint64_t A, int at,
                            int lda, uint64_t B, int bt, int ldb, const void* beta, uint64_t C, int ct, int ldc,
                            int compute, int algo) {
    (void)algo;
    return gemm("cublasGemmEx", handle, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1,
                compute);
}

EMU_EXPORT int cublasGemmStridedBatchedEx(void* handle, int ta, int tb, int m, int n, int k, const void* alpha,
                                          uint64_t A, int at, int lda, long long sa, uint64_t B, int bt, int ldb,
                                          long long sb, const void* beta, uint64_t C, int ct, int ldc, long long sc,
                                          int batch, int compute, int algo) {
    (void)algo;
    return gemm("cublasGemmStridedBatchedEx", handle, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta,
                C, ct, ldc, sc, batch, compute);
}

// ---- cuBLASLt ------------------------------------------------------------------------------------------------------
namespace {

struct LtDesc {
    int compute, scale;
    int transa = 0, transb = 0;
    unsigned epilogue = EPI_DEFAULT;
    uint64_t bias = 0;
    int bias_type = -1;  // the type of D unless set
    int64_t bias_stride = 0;
};

struct LtLayout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
    int order = 0;  // CUBLASLT_ORDER_COL
    int batch = 1;
    int64_t stride = 0;
};

template <typename T>
bool get_attr(const void* buf, size_t n, T* out) {
    if (!buf || n != sizeof(T)) return false;
    memcpy(out, buf, sizeof(T));
    return true;
}

Operand operand_of(const LtLayout& l, uint64_t ptr, bool trans) {
    Operand o;
    o.ptr = ptr;
    o.type = l.type;
    o.rows = (int64_t)l.rows;
    o.cols = (int64_t)l.cols;
    o.rs = l.order == 0 ? 1 : l.ld;
    o.cs = l.order == 0 ? l.ld : 1;
    o.batch_stride = l.stride;
    o.trans = trans;
    return o;
}

// The problem a cublasLtMatmul describes, or a status when the descriptors do not fit together.
int lt_problem(const LtDesc* d, const LtLayout* a, const LtLayout* b, const LtLayout* c, const LtLayout* dl,
               Problem* p) {
    if (!d || !a || !b || !c || !dl) return STATUS_INVALID_VALUE;
    if (!compute_ok(d->compute, &p->tf32) || d->scale != R_32F) return STATUS_NOT_SUPPORTED;
    if (!types_ok(a->type, b->type, dl->type) || c->type != dl->type) return STATUS_NOT_SUPPORTED;
    p->tf32 = p->tf32 && a->type == R_32F;
    const int64_t m = (int64_t)dl->rows, n = (int64_t)dl->cols;
    const int64_t am = d->transa ? (int64_t)a->cols : (int64_t)a->rows, ak = d->transa ? (int64_t)a->rows : (int64_t)a->cols;
    const int64_t bk = d->transb ? (int64_t)b->cols : (int64_t)b->rows, bn = d->transb ? (int64_t)b->rows : (int64_t)b->cols;
    if (am != m || bn != n || ak != bk || c->rows != dl->rows || c->cols != dl->cols) return STATUS_INVALID_VALUE;
    for (const LtLayout* l : {a, b, c, dl}) {
        const int64_t need = l->order == 0 ? (int64_t)l->rows : (int64_t)l->cols;
        if (l->ld < std::max<int64_t>(1, need)) return STATUS_INVALID_VALUE;
    }
    const int batch = dl->batch;
    for (const LtLayout* l : {a, b, c})
        if (l->batch != batch && l->batch != 1) return STATUS_INVALID_VALUE;
    switch (d->epilogue) {
        case EPI_DEFAULT: case EPI_RELU: case EPI_BIAS: case EPI_RELU_BIAS: case EPI_GELU: case EPI_GELU_BIAS: break;
        default: return STATUS_NOT_SUPPORTED;
    }
    p->call = "cublasLtMatmul";
    p->m = m;
    p->n = n;
    p->k = ak;
    p->batch = batch;
    p->epilogue = d->epilogue;
    p->bias_type = d->bias_type >= 0 ? d->bias_type : dl->type;
    p->bias_stride = d->bias_stride;
    return SUCCESS;
}

}  // namespace

EMU_EXPORT int cublasLtCreate(void** lt) {
    if (!lt) return STATUS_INVALID_VALUE;
    *lt = new int(0);
    return SUCCESS;
}

EMU_EXPORT int cublasLtDestroy(void* lt) {
    delete (int*)lt;
    return SUCCESS;
}

EMU_EXPORT size_t cublasLtGetVersion() { return 120800; }

EMU_EXPORT int cublasLtMatmulDescCreate(void** desc, int compute, int scale) {
    if (!desc) return STATUS_INVALID_VALUE;
    LtDesc* d = new LtDesc();
    d->compute = compute;
    d->scale = scale;
    *desc = d;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatmulDescDestroy(void* desc) {
    delete (LtDesc*)desc;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatmulDescSetAttribute(void* desc, int attr, const void* buf, size_t n) {
    LtDesc* d = (LtDesc*)desc;
    if (!d) return STATUS_INVALID_VALUE;
    int32_t i32;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    switch (attr) {
        case 0: return get_attr(buf, n, &i32) ? (d->compute = i32, SUCCESS) : STATUS_INVALID_VALUE;  // COMPUTE_TYPE
        case 1: return get_attr(buf, n, &i32) ? (d->scale = i32, SUCCESS) : STATUS_INVALID_VALUE;    // SCALE_TYPE
        case 2:  // POINTER_MODE: host scalars only
            return get_attr(buf, n, &i32) ? (i32 == 0 ? SUCCESS : STATUS_NOT_SUPPORTED) : STATUS_INVALID_VALUE;
        case 3: return get_attr(buf, n, &i32) && (i32 == 0 || i32 == 1) ? (d->transa = i32, SUCCESS) : STATUS_INVALID_VALUE;
        case 4: return get_attr(buf, n, &i32) && (i32 == 0 || i32 == 1) ? (d->transb = i32, SUCCESS) : STATUS_INVALID_VALUE;
        case 5: return get_attr(buf, n, &i32) && i32 == 0 ? SUCCESS : STATUS_NOT_SUPPORTED;  // TRANSC
        case 7: return get_attr(buf, n, &u32) ? (d->epilogue = u32, SUCCESS) : STATUS_INVALID_VALUE;
        case 8: return get_attr(buf, n, &u64) ? (d->bias = u64, SUCCESS) : STATUS_INVALID_VALUE;     // BIAS_POINTER
        case 10: return get_attr(buf, n, &i64) ? (d->bias_stride = i64, SUCCESS) : STATUS_INVALID_VALUE;
        case 26: return get_attr(buf, n, &i32) ? (d->bias_type = i32, SUCCESS) : STATUS_INVALID_VALUE;  // BIAS_DATA_TYPE
        default: return STATUS_NOT_SUPPORTED;
    }
}

EMU_EXPORT int cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (!layout || type_size(type) == 0) return STATUS_INVALID_VALUE;
    LtLayout* l = new LtLayout();
    l->type = type;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    *layout = l;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatrixLayoutDestroy(void* layout) {
    delete (LtLayout*)layout;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatrixLayoutSetAttribute(void* layout, int attr, const void* buf, size_t n) {
    LtLayout* l = (LtLayout*)layout;
    if (!l) return STATUS_INVALID_VALUE;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    switch (attr) {
        case 0: return get_attr(buf, n, &i32) && type_size(i32) ? (l->type = i32, SUCCESS) : STATUS_INVALID_VALUE;
        case 1: return get_attr(buf, n, &i32) && (i32 == 0 || i32 == 1) ? (l->order = i32, SUCCESS) : STATUS_NOT_SUPPORTED;
        case 2: return get_attr(buf, n, &u64) ? (l->rows = u64, SUCCESS) : STATUS_INVALID_VALUE;
        case 3: return get_attr(buf, n, &u64) ? (l->cols = u64, SUCCESS) : STATUS_INVALID_VALUE;
        case 4: return get_attr(buf, n, &i64) ? (l->ld = i64, SUCCESS) : STATUS_INVALID_VALUE;
        case 5: return get_attr(buf, n, &i32) && i32 >= 1 ? (l->batch = i32, SUCCESS) : STATUS_INVALID_VALUE;
        case 6: return get_attr(buf, n, &i64) ? (l->stride = i64, SUCCESS) : STATUS_INVALID_VALUE;
        default: return STATUS_NOT_SUPPORTED;
    }
}

EMU_EXPORT int cublasLtMatmulPreferenceCreate(void** pref) {
    if (!pref) return STATUS_INVALID_VALUE;
    *pref = new int(0);
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatmulPreferenceDestroy(void* pref) {
    delete (int*)pref;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatmulPreferenceSetAttribute(void* pref, int attr, const void* buf, size_t n) {
    (void)attr;
    return pref && buf && n > 0 ? SUCCESS : STATUS_INVALID_VALUE;
}

// The answer is always one algorithm that needs no workspace (cublasLtMatmulHeuristicResult_t, 96 bytes).
struct HeuristicResult {
    uint64_t algo[8];
    size_t workspace;
    int state;
    float waves;
    int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t layout");
constexpr uint64_t kAlgoMark = 0x4d3245334c54ull;  // "M2E3LT": what an algorithm of this emulator carries

EMU_EXPORT int cublasLtMatmulAlgoGetHeuristic(void* lt, void* desc, void* a, void* b, void* c, void* d, void* pref,
                                              int requested, HeuristicResult* results, int* returned) {
    if (!lt || !pref || !results || !returned || requested < 1) return STATUS_INVALID_VALUE;
    Problem p;
    *returned = 0;
    const int s = lt_problem((LtDesc*)desc, (LtLayout*)a, (LtLayout*)b, (LtLayout*)c, (LtLayout*)d, &p);
    if (s != SUCCESS) return s;
    memset(&results[0], 0, sizeof results[0]);
    results[0].algo[0] = kAlgoMark;
    results[0].workspace = 0;
    results[0].state = SUCCESS;
    results[0].waves = 1.0f;
    *returned = 1;
    return SUCCESS;
}

EMU_EXPORT int cublasLtMatmul(void* lt, void* desc, const void* alpha, uint64_t A, void* adesc, uint64_t B,
                              void* bdesc, const void* beta, uint64_t C, void* cdesc, uint64_t D, void* ddesc,
                              const uint64_t* algo, uint64_t workspace, size_t workspace_bytes, void* stream) {
    (void)workspace;
    (void)workspace_bytes;
    if (!lt || !alpha || !beta) return STATUS_INVALID_VALUE;
    if (algo && algo[0] != kAlgoMark) return STATUS_INVALID_VALUE;
    LtDesc* d = (LtDesc*)desc;
    Problem p;
    const int s = lt_problem(d, (LtLayout*)adesc, (LtLayout*)bdesc, (LtLayout*)cdesc, (LtLayout*)ddesc, &p);
    if (s != SUCCESS) return s;
    memcpy(&p.alpha, alpha, 4);
    memcpy(&p.beta, beta, 4);
    // The descriptors' state is taken now: the caller may change the bias pointer before the stream runs this.
    p.a = operand_of(*(LtLayout*)adesc, A, d->transa == 1);
    p.b = operand_of(*(LtLayout*)bdesc, B, d->transb == 1);
    p.c = operand_of(*(LtLayout*)cdesc, C, false);
    p.d = operand_of(*(LtLayout*)ddesc, D, false);
    p.bias = d->bias;
    if ((p.epilogue == EPI_BIAS || p.epilogue == EPI_RELU_BIAS || p.epilogue == EPI_GELU_BIAS) && p.bias == 0)
        return STATUS_INVALID_VALUE;
    return submit(stream, p);
}

}  // namespace emu
