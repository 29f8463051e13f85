using System.Runtime.InteropServices;
using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Dnnl;

namespace Med2E3.Native.Runtime;

/// <summary>
/// y = x·Wᵀ + b with bf16 x [M, K] and W [N, K] and f32 y and b, on oneDNN's matmul primitive (bf16 × bf16 products
/// accumulated in f32). W is reordered once, at construction, into the blocked layout the primitive picks for it
/// (weights format <c>any</c>); a primitive per M is created on first use and kept (M is the one runtime size: 1 per
/// decode step, the prompt length at prefill, the patch count in the encoders). The runtime-M form of the primitive
/// is not used: oneDNN 2.6 implements it only with the slower plain-layout GEMM.
/// </summary>
public sealed unsafe class DnnlBf16MatMul : IDisposable
{
    // A layout-picking M: the blocked layout oneDNN's brgemm matmul picks depends on N and K, not on M.
    private const int LayoutM = 128;
    private const int MaxCachedPrimitives = 32;

    private readonly Dictionary<int, (SafeDnnlPrimitiveHandle Primitive, nuint ScratchBytes)> _primitives = [];
    private readonly object _gate = new();
    private readonly SafeDnnlPrimitiveAttrHandle _attr;
    private dnnl_memory_desc_t* _weightsMd;                 // native memory: the GC never moves it
    private void* _weights;
    private float* _zeroBias;
    private bool _disposed;

    /// <summary>Reorders W [<paramref name="n"/>, <paramref name="k"/>] (row-major bf16 bits) into oneDNN's layout.</summary>
    /// <param name="wRowMajor">W as bf16 bits, row-major; read during the call only.</param>
    /// <param name="n">Rows of W (output features).</param>
    /// <param name="k">Columns of W (input features).</param>
    /// <exception cref="InvalidOperationException">oneDNN is not available.</exception>
    /// <exception cref="DnnlException">A oneDNN call failed.</exception>
    public DnnlBf16MatMul(ReadOnlySpan<ushort> wRowMajor, int n, int k)
    {
        if (!DnnlRuntime.IsAvailable)
        {
            throw new InvalidOperationException($"oneDNN is not available: {DnnlRuntime.UnavailableReason}");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (wRowMajor.Length != (long)n * k)
        {
            throw new ArgumentException($"DnnlBf16MatMul: {wRowMajor.Length} weights for [{n}, {k}]", nameof(wRowMajor));
        }

        N = n;
        K = k;
        nint engine = DnnlRuntime.Engine.DangerousGetHandle();
        DnnlRuntime.Check(dnnl_primitive_attr_create(out nint rawAttr));
        _attr = new SafeDnnlPrimitiveAttrHandle();
        _attr.DangerousAttach(rawAttr);
        // User scratchpad: each call brings its own, so one primitive may run on several threads at once.
        DnnlRuntime.Check(dnnl_primitive_attr_set_scratchpad_mode(rawAttr, dnnl_scratchpad_mode_t.dnnl_scratchpad_mode_user));

        using (SafeDnnlPrimitiveDescHandle pd = CreateMatMulDesc(LayoutM, pickLayout: true))
        {
            dnnl_memory_desc_t* chosen = dnnl_primitive_desc_query_md(pd.DangerousGetHandle(),
                dnnl_query_t.dnnl_query_weights_md, 0);
            _weightsMd = (dnnl_memory_desc_t*)NativeMemory.AlignedAlloc((nuint)sizeof(dnnl_memory_desc_t), 64);
            *_weightsMd = *chosen;
            Implementation = QueryImplementation(pd.DangerousGetHandle());
        }

        WeightBytes = (long)dnnl_memory_desc_get_size(_weightsMd);
        _weights = NativeMemory.AlignedAlloc((nuint)WeightBytes, 64);
        _zeroBias = (float*)NativeMemory.AlignedAlloc((nuint)n * 4, 64);
        new Span<float>(_zeroBias, n).Clear();
        fixed (ushort* w = wRowMajor)
        {
            dnnl_memory_desc_t plain = PlainWeights();
            // SAFETY: w holds n·k bf16 values and oneDNN only reads it during the reorder below.
            Reorder(&plain, w, _weightsMd, _weights, engine);
        }
    }

    /// <summary>Output features (N).</summary>
    public int N { get; }

    /// <summary>Input features (K).</summary>
    public int K { get; }

    /// <summary>Bytes of the reordered weight.</summary>
    public long WeightBytes { get; }

    /// <summary>The implementation oneDNN picked (its <c>impl_info_str</c>), e.g. "brg:avx512_core_bf16".</summary>
    public string Implementation { get; }

    /// <summary>
    /// y[i, j] = Σp x[i, p]·W[j, p] + bias[j] for i &lt; <paramref name="m"/>: x dense [m, K] bf16 bits, y dense
    /// [m, N] f32 (overwritten), bias [N] f32 or null; oneDNN runs it on <paramref name="threads"/> threads.
    /// </summary>
    /// <exception cref="DnnlException">A oneDNN call failed.</exception>
    public void Execute(ushort* x, int m, float* y, float* bias, int threads)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(m);
        (SafeDnnlPrimitiveHandle primitive, nuint scratchBytes) = PrimitiveFor(m);
        nint engine = DnnlRuntime.Engine.DangerousGetHandle();
        dnnl_memory_desc_t src = Dense(m, K, dnnl_data_type_t.dnnl_bf16);
        dnnl_memory_desc_t dst = Dense(m, N, dnnl_data_type_t.dnnl_f32);
        dnnl_memory_desc_t biasMd = Dense(1, N, dnnl_data_type_t.dnnl_f32);
        void* scratch = scratchBytes == 0 ? null : NativeMemory.AlignedAlloc(scratchBytes, 64);
        nint srcMem = 0, weiMem = 0, biasMem = 0, dstMem = 0, scratchMem = 0, stream = 0;
        bool added = false;
        try
        {
            primitive.DangerousAddRef(ref added);
            DnnlRuntime.Check(dnnl_memory_create(out srcMem, &src, engine, x));
            DnnlRuntime.Check(dnnl_memory_create(out weiMem, _weightsMd, engine, _weights));
            DnnlRuntime.Check(dnnl_memory_create(out biasMem, &biasMd, engine, bias != null ? bias : _zeroBias));
            DnnlRuntime.Check(dnnl_memory_create(out dstMem, &dst, engine, y));
            int nargs = 4;
            dnnl_exec_arg_t* args = stackalloc dnnl_exec_arg_t[5];
            args[0] = new dnnl_exec_arg_t { arg = DNNL_ARG_SRC, memory = srcMem };
            args[1] = new dnnl_exec_arg_t { arg = DNNL_ARG_WEIGHTS, memory = weiMem };
            args[2] = new dnnl_exec_arg_t { arg = DNNL_ARG_BIAS, memory = biasMem };
            args[3] = new dnnl_exec_arg_t { arg = DNNL_ARG_DST, memory = dstMem };
            if (scratch != null)
            {
                dnnl_memory_desc_t scratchMd = ScratchpadDesc(scratchBytes);
                DnnlRuntime.Check(dnnl_memory_create(out scratchMem, &scratchMd, engine, scratch));
                args[nargs++] = new dnnl_exec_arg_t { arg = DNNL_ARG_SCRATCHPAD, memory = scratchMem };
            }

            DnnlRuntime.Check(dnnl_stream_create(out stream, engine, dnnl_stream_default_flags));
            DnnlRuntime.SetThreads(threads);
            // SAFETY: every memory object wraps a buffer that outlives the call (x, y, bias are the caller's for its
            // duration, the weights and scratch are ours), with the sizes their descriptors state.
            DnnlRuntime.Check(dnnl_primitive_execute(primitive.DangerousGetHandle(), stream, nargs, args));
            DnnlRuntime.Check(dnnl_stream_wait(stream));
        }
        finally
        {
            if (stream != 0) dnnl_stream_destroy(stream);
            if (scratchMem != 0) dnnl_memory_destroy(scratchMem);
            if (dstMem != 0) dnnl_memory_destroy(dstMem);
            if (biasMem != 0) dnnl_memory_destroy(biasMem);
            if (weiMem != 0) dnnl_memory_destroy(weiMem);
            if (srcMem != 0) dnnl_memory_destroy(srcMem);
            if (scratch != null) NativeMemory.AlignedFree(scratch);
            if (added) primitive.DangerousRelease();
        }
    }

    /// <summary>Writes W [N, K] row-major as bf16 bits (reordered back from oneDNN's layout).</summary>
    /// <exception cref="DnnlException">A oneDNN call failed.</exception>
    public void Unpack(Span<ushort> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (destination.Length < (long)N * K)
        {
            throw new ArgumentException($"DnnlBf16MatMul.Unpack: {destination.Length} < {N}·{K}", nameof(destination));
        }

        fixed (ushort* w = destination)
        {
            dnnl_memory_desc_t plain = PlainWeights();
            // SAFETY: destination holds at least N·K values, written only during the reorder.
            Reorder(_weightsMd, _weights, &plain, w, DnnlRuntime.Engine.DangerousGetHandle());
        }
    }

    /// <summary>Frees the weight when it was not disposed (the handles release themselves).</summary>
    ~DnnlBf16MatMul() => FreeNative();

    /// <summary>Frees the weight and the primitives.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach ((SafeDnnlPrimitiveHandle p, _) in _primitives.Values)
            {
                p.Dispose();
            }

            _primitives.Clear();
            _attr.Dispose();
            FreeNative();
            GC.SuppressFinalize(this);
        }
    }

    private void FreeNative()
    {
        NativeMemory.AlignedFree(_weights);
        NativeMemory.AlignedFree(_zeroBias);
        NativeMemory.AlignedFree(_weightsMd);
        _weightsMd = null;
        _weights = null;
        _zeroBias = null;
    }

    private (SafeDnnlPrimitiveHandle, nuint) PrimitiveFor(int m)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_primitives.TryGetValue(m, out var entry))
            {
                return entry;
            }

            if (_primitives.Count >= MaxCachedPrimitives)
            {
                // Many distinct M (prompts of every length): start over rather than grow without bound. A primitive
                // in use elsewhere is kept alive by its reference count until that call ends.
                foreach ((SafeDnnlPrimitiveHandle p, _) in _primitives.Values)
                {
                    p.Dispose();
                }

                _primitives.Clear();
            }

            using SafeDnnlPrimitiveDescHandle pd = CreateMatMulDesc(m, pickLayout: false);
            nuint scratch = dnnl_memory_desc_get_size(
                dnnl_primitive_desc_query_md(pd.DangerousGetHandle(), dnnl_query_t.dnnl_query_scratchpad_md, 0));
            DnnlRuntime.Check(dnnl_primitive_create(out nint raw, pd.DangerousGetHandle()));
            var primitive = new SafeDnnlPrimitiveHandle();
            primitive.DangerousAttach(raw);
            entry = (primitive, scratch);
            _primitives[m] = entry;
            return entry;
        }
    }

    // The matmul descriptor for M rows; with pickLayout the weights are format 'any', else the layout already chosen.
    private SafeDnnlPrimitiveDescHandle CreateMatMulDesc(int m, bool pickLayout)
    {
        dnnl_memory_desc_t src = Dense(m, K, dnnl_data_type_t.dnnl_bf16);
        dnnl_memory_desc_t dst = Dense(m, N, dnnl_data_type_t.dnnl_f32);
        dnnl_memory_desc_t bias = Dense(1, N, dnnl_data_type_t.dnnl_f32);
        dnnl_memory_desc_t wei = default;
        if (pickLayout)
        {
            long* dims = stackalloc long[] { K, N };
            DnnlRuntime.Check(dnnl_memory_desc_init_by_tag(&wei, 2, dims, dnnl_data_type_t.dnnl_bf16,
                dnnl_format_tag_t.dnnl_format_tag_any));
        }
        else
        {
            wei = *_weightsMd;
        }

        dnnl_matmul_desc_t op = default;
        DnnlRuntime.Check(dnnl_matmul_desc_init(&op, &src, &wei, &bias, &dst));
        DnnlRuntime.Check(dnnl_primitive_desc_create(out nint raw, &op, _attr.DangerousGetHandle(),
            DnnlRuntime.Engine.DangerousGetHandle(), 0));
        var pd = new SafeDnnlPrimitiveDescHandle();
        pd.DangerousAttach(raw);
        return pd;
    }

    // The scratchpad is an opaque byte buffer: a 1-D u8 descriptor of the queried size.
    private static dnnl_memory_desc_t ScratchpadDesc(nuint bytes)
    {
        dnnl_memory_desc_t md = default;
        long* dims = stackalloc long[] { (long)bytes };
        DnnlRuntime.Check(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_data_type_t.dnnl_u8, dnnl_format_tag_t.dnnl_a));
        return md;
    }

    // W [N, K] row-major is the matmul's weights (K, N) with strides (1, K): format tag 'ba'.
    private dnnl_memory_desc_t PlainWeights()
    {
        dnnl_memory_desc_t md = default;
        long* dims = stackalloc long[] { K, N };
        DnnlRuntime.Check(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_data_type_t.dnnl_bf16, dnnl_format_tag_t.dnnl_ba));
        return md;
    }

    private static dnnl_memory_desc_t Dense(int rows, int cols, dnnl_data_type_t type)
    {
        dnnl_memory_desc_t md = default;
        long* dims = stackalloc long[] { rows, cols };
        DnnlRuntime.Check(dnnl_memory_desc_init_by_tag(&md, 2, dims, type, dnnl_format_tag_t.dnnl_ab));
        return md;
    }

    private static void Reorder(dnnl_memory_desc_t* fromMd, void* from, dnnl_memory_desc_t* toMd, void* to, nint engine)
    {
        nint fromMem = 0, toMem = 0, stream = 0;
        using var pd = new SafeDnnlPrimitiveDescHandle();
        using var primitive = new SafeDnnlPrimitiveHandle();
        try
        {
            DnnlRuntime.Check(dnnl_reorder_primitive_desc_create(out nint rawPd, fromMd, engine, toMd, engine, 0));
            pd.DangerousAttach(rawPd);
            DnnlRuntime.Check(dnnl_primitive_create(out nint rawPrim, rawPd));
            primitive.DangerousAttach(rawPrim);
            DnnlRuntime.Check(dnnl_memory_create(out fromMem, fromMd, engine, from));
            DnnlRuntime.Check(dnnl_memory_create(out toMem, toMd, engine, to));
            DnnlRuntime.Check(dnnl_stream_create(out stream, engine, dnnl_stream_default_flags));
            dnnl_exec_arg_t* args = stackalloc dnnl_exec_arg_t[2];
            args[0] = new dnnl_exec_arg_t { arg = DNNL_ARG_FROM, memory = fromMem };
            args[1] = new dnnl_exec_arg_t { arg = DNNL_ARG_TO, memory = toMem };
            DnnlRuntime.Check(dnnl_primitive_execute(rawPrim, stream, 2, args));
            DnnlRuntime.Check(dnnl_stream_wait(stream));
        }
        finally
        {
            if (stream != 0) dnnl_stream_destroy(stream);
            if (toMem != 0) dnnl_memory_destroy(toMem);
            if (fromMem != 0) dnnl_memory_destroy(fromMem);
        }
    }

    private static string QueryImplementation(nint pd)
    {
        byte* info = null;
        DnnlRuntime.Check(dnnl_primitive_desc_query(pd, dnnl_query_t.dnnl_query_impl_info_str, 0, &info));
        return Marshal.PtrToStringUTF8((nint)info) ?? "?";
    }
}
