// streams.cpp — streams, events, graph capture and replay on the emulated device.
//
// Work queued on a stream is an operation (a kernel launch, a copy, a memset, a cuBLAS product, an event record).
// In the default immediate mode it runs inside the call that queues it, which is one valid order of a real device's
// asynchronous execution. In deferred mode (MED2E3_EMU_STREAMS=deferred) it only runs when the host synchronises
// (cuStreamSynchronize, cuCtxSynchronize, cuEventSynchronize, a query, cuMemFree, a copy to pageable memory, which is
// synchronous in CUDA too): a host that reads pinned memory or a result without synchronising first sees the poison.
// While a stream is captured, operations are recorded into the graph instead, and a graph launch queues copies of
// them. A fault or failed check while an operation runs becomes the context's sticky error.
#include <time.h>

#include <deque>
#include <memory>
#include <mutex>

#include "emu.h"

namespace emu {

struct Op {
    std::string what;
    std::function<Result()> run;
    uint64_t seq = 0;
};

struct Graph {
    std::vector<std::shared_ptr<Op>> nodes;
};

struct Stream {
    std::deque<std::shared_ptr<Op>> pending;
    uint64_t queued = 0;    // sequence number of the last queued operation
    uint64_t finished = 0;  // … and of the last one that ran
    Graph* capture = nullptr;
    bool capture_broken = false;
    std::string capture_error;
};

struct Event {
    Stream* stream = nullptr;
    uint64_t seq = 0;
    bool recorded = false, done = false, timing = true;
    int64_t ns = 0;
};

namespace {

// One lock for every stream, taken while operations run: work of different streams does not overlap, which is one
// valid schedule of a device, and it keeps graph capture and deferred execution simple.
std::recursive_mutex g_mu;
Stream g_default;
std::vector<Stream*> g_streams;  // created streams, for cuCtxSynchronize

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

Result run_op(Stream* s, Op& op) {
    s->finished = op.seq;
    if (Result e = sticky_error()) return e;  // work after a fault is discarded, as on a GPU
    const Result r = op.run();
    return r;
}

// Runs the operations of `s` up to and including sequence number `upto`.
Result flush(Stream* s, uint64_t upto) {
    while (!s->pending.empty() && s->pending.front()->seq <= upto) {
        std::shared_ptr<Op> op = s->pending.front();
        s->pending.pop_front();
        run_op(s, *op);
    }
    return sticky_error();
}

Result flush_all() {
    flush(&g_default, UINT64_MAX);
    for (Stream* s : g_streams) flush(s, UINT64_MAX);
    return sticky_error();
}

bool valid_stream(Stream* s) {
    if (s == &g_default) return true;
    for (Stream* x : g_streams)
        if (x == s) return true;
    return false;
}

Result capture_violation(Stream* s, const std::string& why) {
    s->capture_broken = true;
    if (s->capture_error.empty()) s->capture_error = why;
    return fail(STREAM_CAPTURE_UNSUPPORTED, why);
}

}  // namespace

Stream* resolve_stream(void* handle) {
    const uintptr_t h = (uintptr_t)handle;
    if (h == 0 || h == 1 || h == 2) return &g_default;  // null, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD
    return (Stream*)handle;
}

bool stream_is_capturing(Stream* s) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    return s->capture != nullptr;
}

Result enqueue(Stream* s, std::string what, std::function<Result()> run) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    if (!valid_stream(s)) return fail(INVALID_HANDLE, what + ": not a stream of this context");
    if (s->capture) {
        auto op = std::make_shared<Op>();
        op->what = std::move(what);
        op->run = std::move(run);
        s->capture->nodes.push_back(op);
        return OK;
    }
    if (Result e = sticky_error()) return e;
    auto op = std::make_shared<Op>();
    op->what = std::move(what);
    op->run = std::move(run);
    op->seq = ++s->queued;
    if (config().deferred) {
        s->pending.push_back(op);
        return OK;
    }
    run_op(s, *op);
    return OK;  // an error while it ran is sticky and reported by the next call, as for asynchronous work
}

Result stream_sync(Stream* s) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    return flush(s, UINT64_MAX);
}

Result sync_all() {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    return flush_all();
}

// ---- streams ---------------------------------------------------------------------------------------------------------
EMU_EXPORT int cuStreamCreate(void** out, unsigned flags) {
    (void)flags;
    if (!out) return fail(INVALID_VALUE, "cuStreamCreate: null output");
    std::lock_guard<std::recursive_mutex> g(g_mu);
    if (Result e = sticky_error()) return e;
    Stream* s = new Stream();
    g_streams.push_back(s);
    *out = s;
    return OK;
}

EMU_EXPORT int cuStreamDestroy_v2(void* handle) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (s == &g_default || !valid_stream(s)) return fail(INVALID_HANDLE, "cuStreamDestroy: not a created stream");
    // Queued work still completes (cuStreamDestroy does not wait, but the work is not lost).
    flush(s, UINT64_MAX);
    for (size_t i = 0; i < g_streams.size(); i++)
        if (g_streams[i] == s) g_streams.erase(g_streams.begin() + (long)i);
    delete s->capture;
    delete s;
    return OK;
}

EMU_EXPORT int cuStreamSynchronize(void* handle) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (!valid_stream(s)) return fail(INVALID_HANDLE, "cuStreamSynchronize: not a stream");
    if (s->capture) return capture_violation(s, "cuStreamSynchronize on a stream that is being captured");
    return flush(s, UINT64_MAX);
}

EMU_EXPORT int cuStreamQuery(void* handle) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (!valid_stream(s)) return fail(INVALID_HANDLE, "cuStreamQuery: not a stream");
    if (s->capture) return capture_violation(s, "cuStreamQuery on a stream that is being captured");
    if (Result e = sticky_error()) return e;
    if (!s->pending.empty()) {
        // Not finished now; the work runs, so that a polling loop ends.
        flush(s, UINT64_MAX);
        return NOT_READY;
    }
    return OK;
}

EMU_EXPORT int cuStreamWaitEvent(void* handle, void* event, unsigned flags) {
    (void)flags;
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    Event* e = (Event*)event;
    if (!e) return fail(INVALID_HANDLE, "cuStreamWaitEvent: null event");
    if (!e->recorded) return OK;  // an event never recorded is complete
    Stream* src = e->stream;
    const uint64_t seq = e->seq;
    return enqueue(s, "cuStreamWaitEvent", [src, seq] {
        std::lock_guard<std::recursive_mutex> l(g_mu);
        if (valid_stream(src)) flush(src, seq);
        return OK;
    });
}

// ---- events ----------------------------------------------------------------------------------------------------------
EMU_EXPORT int cuEventCreate(void** out, unsigned flags) {
    if (!out) return fail(INVALID_VALUE, "cuEventCreate: null output");
    if (Result e = sticky_error()) return e;
    Event* e = new Event();
    e->timing = (flags & 2u) == 0;  // CU_EVENT_DISABLE_TIMING
    *out = e;
    return OK;
}

EMU_EXPORT int cuEventDestroy_v2(void* event) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Event* e = (Event*)event;
    // A record still queued refers to the event: let it run first (CUDA releases the event once it completes).
    if (e && e->recorded && !e->done && valid_stream(e->stream)) flush(e->stream, e->seq);
    delete e;
    return OK;
}

EMU_EXPORT int cuEventRecord(void* event, void* handle) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Event* e = (Event*)event;
    if (!e) return fail(INVALID_HANDLE, "cuEventRecord: null event");
    Stream* s = resolve_stream(handle);
    if (!valid_stream(s)) return fail(INVALID_HANDLE, "cuEventRecord: not a stream");
    if (s->capture) return capture_violation(s, "cuEventRecord of an event into a captured stream is not modelled");
    e->recorded = true;
    e->done = false;
    e->stream = s;
    e->seq = s->queued + 1;
    return enqueue(s, "cuEventRecord", [e] {
        e->ns = now_ns();
        e->done = true;
        return OK;
    });
}

EMU_EXPORT int cuEventSynchronize(void* event) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Event* e = (Event*)event;
    if (!e) return fail(INVALID_HANDLE, "cuEventSynchronize: null event");
    if (!e->recorded) return OK;
    if (valid_stream(e->stream)) flush(e->stream, e->seq);
    return sticky_error();
}

EMU_EXPORT int cuEventQuery(void* event) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Event* e = (Event*)event;
    if (!e) return fail(INVALID_HANDLE, "cuEventQuery: null event");
    if (Result r = sticky_error()) return r;
    if (!e->recorded || e->done) return OK;
    if (valid_stream(e->stream)) flush(e->stream, e->seq);
    return NOT_READY;
}

EMU_EXPORT int cuEventElapsedTime(float* ms, void* start, void* end) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Event* a = (Event*)start;
    Event* b = (Event*)end;
    if (!ms || !a || !b) return fail(INVALID_HANDLE, "cuEventElapsedTime: null argument");
    if (!a->timing || !b->timing)
        return fail(INVALID_HANDLE, "cuEventElapsedTime: an event was created with CU_EVENT_DISABLE_TIMING");
    if (!a->recorded || !b->recorded) return fail(INVALID_HANDLE, "cuEventElapsedTime: an event was never recorded");
    if (!a->done || !b->done) return fail(NOT_READY, "cuEventElapsedTime: an event has not completed");
    *ms = (float)((double)(b->ns - a->ns) / 1e6);
    return OK;
}

// ---- graphs ----------------------------------------------------------------------------------------------------------
EMU_EXPORT int cuStreamBeginCapture_v2(void* handle, int mode) {
    (void)mode;
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (s == &g_default) return fail(STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the legacy default stream "
                                                                 "cannot be captured");
    if (!valid_stream(s)) return fail(INVALID_HANDLE, "cuStreamBeginCapture: not a stream");
    if (s->capture) return fail(STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the stream is already captured");
    if (Result e = sticky_error()) return e;
    // Work queued before the capture is not part of it; in deferred mode it stays queued ahead of the graph.
    s->capture = new Graph();
    s->capture_broken = false;
    s->capture_error.clear();
    return OK;
}

EMU_EXPORT int cuStreamEndCapture(void* handle, void** graph) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (!valid_stream(s) || !graph) return fail(INVALID_VALUE, "cuStreamEndCapture: bad argument");
    if (!s->capture) return fail(STREAM_CAPTURE_UNMATCHED, "cuStreamEndCapture: the stream is not being captured");
    Graph* gr = s->capture;
    s->capture = nullptr;
    if (s->capture_broken) {
        delete gr;
        *graph = nullptr;
        return fail(STREAM_CAPTURE_INVALIDATED, "the capture was invalidated: " + s->capture_error);
    }
    *graph = gr;
    return OK;
}

EMU_EXPORT int cuStreamIsCapturing(void* handle, int* status) {
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    if (!status || !valid_stream(s)) return fail(INVALID_VALUE, "cuStreamIsCapturing: bad argument");
    *status = s->capture ? (s->capture_broken ? 2 : 1) : 0;
    return OK;
}

EMU_EXPORT int cuGraphGetNodes(void* graph, void** nodes, size_t* count) {
    Graph* gr = (Graph*)graph;
    if (!gr || !count) return fail(INVALID_VALUE, "cuGraphGetNodes: bad argument");
    if (nodes)
        for (size_t i = 0; i < *count && i < gr->nodes.size(); i++) nodes[i] = gr->nodes[i].get();
    *count = gr->nodes.size();
    return OK;
}

EMU_EXPORT int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
    (void)flags;
    Graph* gr = (Graph*)graph;
    if (!exec || !gr) return fail(INVALID_VALUE, "cuGraphInstantiateWithFlags: bad argument");
    if (Result e = sticky_error()) return e;
    *exec = new Graph(*gr);  // the executable graph shares the recorded operations (their arguments are owned copies)
    return OK;
}

EMU_EXPORT int cuGraphLaunch(void* exec, void* handle) {
    Graph* gr = (Graph*)exec;
    if (!gr) return fail(INVALID_HANDLE, "cuGraphLaunch: null graph");
    std::lock_guard<std::recursive_mutex> g(g_mu);
    Stream* s = resolve_stream(handle);
    for (const std::shared_ptr<Op>& node : gr->nodes) {
        std::shared_ptr<Op> keep = node;
        if (Result r = enqueue(s, "graph node: " + node->what, [keep] { return keep->run(); })) return r;
    }
    return OK;
}

EMU_EXPORT int cuGraphExecDestroy(void* exec) {
    delete (Graph*)exec;
    return OK;
}

EMU_EXPORT int cuGraphDestroy(void* graph) {
    delete (Graph*)graph;
    return OK;
}

}  // namespace emu
