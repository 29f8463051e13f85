using System.Runtime.CompilerServices;
using Med2E3.Native.Ops.Ops;
using Med2E3.Native.Tensors;
using Kernels = Med2E3.Native.Ops.Ops;

namespace Med2E3.Native.Ops;

/// <summary>
/// The CPU backend: every <see cref="OpKind"/> for F32 and F64 (BF16/F16 are widened to F32, computed and rounded
/// to nearest even). F64 always runs the reference loops. F32 runs the optimised paths (blocked GEMM, vectorised
/// rows) unless <see cref="ReferenceMode"/> is active on the calling thread, which selects the plain loops that define
/// each op (used by the conformance tests).
/// </summary>
public sealed unsafe class CpuBackend : IBackend
{
    [ThreadStatic] private static int _referenceDepth;
    private static int _registered;

    private CpuBackend()
    {
    }

    /// <summary>The single instance.</summary>
    public static CpuBackend Instance { get; } = new();

    /// <summary>Registers the CPU backend with <see cref="Backends"/> (idempotent).</summary>
    public static void EnsureRegistered()
    {
        if (Volatile.Read(ref _registered) == 1) return;
        if (Interlocked.Exchange(ref _registered, 1) == 0) Backends.Register(Instance);
    }

#pragma warning disable CA2255 // Registering the CPU backend when the Ops assembly loads keeps F usable without setup.
    [ModuleInitializer]
    internal static void Init() => EnsureRegistered();
#pragma warning restore CA2255

    /// <summary>True when the calling thread runs the plain reference loops for F32.</summary>
    public static bool UseReference => _referenceDepth > 0;

    /// <summary>Runs F32 ops through the reference loops on this thread until disposed.</summary>
    public static IDisposable ReferenceMode() => new RefScope();

    private sealed class RefScope : IDisposable
    {
        private bool _done;

        public RefScope() => _referenceDepth++;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _referenceDepth--;
        }
    }

    /// <inheritdoc />
    public string Name => UseReference ? "cpu-reference" : "cpu";

    /// <inheritdoc />
    public DeviceKind DeviceKind => DeviceKind.Cpu;

    /// <inheritdoc />
    public bool Supports(OpKind op, DType dtype) => op switch
    {
        OpKind.Copy or OpKind.Fill or OpKind.Cast or OpKind.Reshape or OpKind.Permute or OpKind.Narrow or OpKind.Expand
            or OpKind.Concat or OpKind.Split or OpKind.RepeatInterleave => true,
        OpKind.IndexSelect or OpKind.Gather => dtype != DType.Bool,
        _ => dtype.IsFloating(),
    };

    /// <inheritdoc />
    public Storage Allocate(long bytes, Device device) => CpuStorage.Allocate(bytes);

    /// <inheritdoc />
    public void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst) => src.CopyTo(new Span<byte>(dst.DataPointer, src.Length));

    /// <inheritdoc />
    public void CopyToHost(Tensor src, Span<byte> dst) =>
        new ReadOnlySpan<byte>(src.DataPointer, dst.Length).CopyTo(dst);

    /// <inheritdoc />
    public void Copy(Tensor src, Tensor dst) => TensorMath.CpuCopy(src, dst);

    /// <inheritdoc />
    public void Fill(Tensor dst, double value) => TensorMath.Fill(dst, value);

    private static T* P<T>(Tensor? t) where T : unmanaged => t is null ? null : (T*)t.DataPointer;

    private static bool IsF64(Tensor t) => t.DType == DType.F64;

    private static bool Fast => _referenceDepth == 0;

    /// <summary>Widens BF16/F16 operands to F32, runs <paramref name="run"/>, rounds the outputs back.</summary>
    private static bool Widen(Tensor?[] ins, Tensor?[] outs, Action<Tensor?[], Tensor?[]> run)
    {
        bool any = false;
        foreach (var t in ins) any |= t is not null && t.DType.IsHalfPrecision();
        foreach (var t in outs) any |= t is not null && t.DType.IsHalfPrecision();
        if (!any) return false;
        var wi = ins.Select(t => t is not null && t.DType.IsHalfPrecision() ? t.CastNoGrad(DType.F32) : t).ToArray();
        var wo = outs.Select(t => t is not null && t.DType.IsHalfPrecision() ? t.CastNoGrad(DType.F32) : t).ToArray();
        try
        {
            run(wi, wo);
            for (int i = 0; i < outs.Length; i++)
                if (!ReferenceEquals(wo[i], outs[i])) TensorMath.Copy(wo[i]!, outs[i]!);
        }
        finally
        {
            for (int i = 0; i < ins.Length; i++) if (!ReferenceEquals(wi[i], ins[i])) wi[i]!.Dispose();
            for (int i = 0; i < outs.Length; i++) if (!ReferenceEquals(wo[i], outs[i])) wo[i]!.Dispose();
        }
        return true;
    }

    /// <inheritdoc />
    public void Unary(UnaryOp op, Tensor x, Tensor y)
    {
        if (Widen([x], [y], (i, o) => Unary(op, i[0]!, o[0]!))) return;
        if (IsF64(x)) Elementwise.UnaryReference(op, P<double>(x), P<double>(y), x.Numel);
        else if (Fast) Elementwise.UnaryFast(op, P<float>(x), P<float>(y), x.Numel);
        else Elementwise.UnaryReference(op, P<float>(x), P<float>(y), x.Numel);
    }

    /// <inheritdoc />
    public void UnaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx)
    {
        if (Widen([x, dy], [dx], (i, o) => UnaryBackward(op, i[0]!, i[1]!, o[0]!))) return;
        if (IsF64(x)) Elementwise.UnaryBackwardReference(op, P<double>(x), P<double>(dy), P<double>(dx), x.Numel);
        else if (Fast && op is UnaryOp.Gelu or UnaryOp.GeluTanh or UnaryOp.Silu) Cpu.VectorMath.ActivationBackward(op, P<float>(x), P<float>(dy), P<float>(dx), x.Numel);
        else Elementwise.UnaryBackwardReference(op, P<float>(x), P<float>(dy), P<float>(dx), x.Numel);
    }

    /// <inheritdoc />
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        if (Widen([a, b], [y], (i, o) => Binary(op, i[0]!, i[1]!, o[0]!))) return;
        if (!y.IsContiguous)
        {
            // In-place accumulation into a strided view: compute into a temporary, then copy.
            using var tmp = Tensor.Empty(y.Shape, y.DType, y.Device, register: false);
            Binary(op, a, b, tmp);
            TensorMath.CpuCopy(tmp, y);
            return;
        }
        if (IsF64(a)) Elementwise.BinaryReference(op, P<double>(a), a.Strides, P<double>(b), b.Strides, P<double>(y), y.Shape);
        else if (Fast) Elementwise.BinaryFast(op, P<float>(a), a.Strides, P<float>(b), b.Strides, P<float>(y), y.Shape);
        else Elementwise.BinaryReference(op, P<float>(a), a.Strides, P<float>(b), b.Strides, P<float>(y), y.Shape);
    }

    /// <inheritdoc />
    public void Scale(Tensor x, double alpha, double beta, Tensor y)
    {
        if (Widen([x], [y], (i, o) => Scale(i[0]!, alpha, beta, o[0]!))) return;
        if (IsF64(x)) Elementwise.ScaleReference(P<double>(x), alpha, beta, P<double>(y), x.Numel);
        else if (Fast)
        {
            long n = x.Numel;
            float* xp = P<float>(x), yp = P<float>(y);
            Cpu.Par.For(n, 1 << 15, (s, e) =>
            {
                var xs = new ReadOnlySpan<float>(xp + s, (int)(e - s));
                var ys = new Span<float>(yp + s, (int)(e - s));
                System.Numerics.Tensors.TensorPrimitives.Multiply(xs, (float)alpha, ys);
                if (beta != 0) System.Numerics.Tensors.TensorPrimitives.Add(ys, (float)beta, ys);
            });
        }
        else Elementwise.ScaleReference(P<float>(x), alpha, beta, P<float>(y), x.Numel);
    }

    /// <inheritdoc />
    public void Reduce(ReduceOp op, Tensor x, int outer, int r, int inner, Tensor y)
    {
        if (Widen([x], [y], (i, o) => Reduce(op, i[0]!, outer, r, inner, o[0]!))) return;
        if (IsF64(x)) Kernels.Reduce.Reference(op, P<double>(x), outer, r, inner, P<double>(y));
        else if (Fast) Kernels.Reduce.Fast(op, P<float>(x), outer, r, inner, P<float>(y));
        else Kernels.Reduce.Reference(op, P<float>(x), outer, r, inner, P<float>(y));
    }

    /// <inheritdoc />
    public void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor? bias, double alpha, double beta)
    {
        if (Widen([a, b, bias], [c], (i, o) => MatMul(i[0]!, transA, i[1]!, transB, o[0]!, i[2], alpha, beta))) return;
        int m = transA ? a.Dim(-1) : a.Dim(-2);
        int k = transA ? a.Dim(-2) : a.Dim(-1);
        int n = transB ? b.Dim(-2) : b.Dim(-1);
        int batch = (int)(c.Numel / Math.Max(1L, (long)m * n));
        int ba = (int)(a.Numel / Math.Max(1L, (long)m * k)), bb = (int)(b.Numel / Math.Max(1L, (long)k * n));
        if (IsF64(a)) Kernels.MatMul.Reference(P<double>(a), transA, P<double>(b), transB, P<double>(c), P<double>(bias), batch, ba, bb, m, n, k, alpha, beta);
        else if (Fast) Kernels.MatMul.Fast(P<float>(a), transA, P<float>(b), transB, P<float>(c), P<float>(bias), batch, ba, bb, m, n, k, (float)alpha, (float)beta);
        else Kernels.MatMul.Reference(P<float>(a), transA, P<float>(b), transB, P<float>(c), P<float>(bias), batch, ba, bb, m, n, k, alpha, beta);
    }

    /// <inheritdoc />
    public void GatedSilu(Tensor gu, Tensor a)
    {
        if (Widen([gu], [a], (i, o) => GatedSilu(i[0]!, o[0]!))) return;
        int f = a.Dim(-1), n = (int)(a.Numel / Math.Max(f, 1));
        if (IsF64(gu)) Elementwise.GatedSiluReference(P<double>(gu), P<double>(a), n, f);
        else if (Fast) Elementwise.GatedSiluFast(P<float>(gu), P<float>(a), n, f);
        else Elementwise.GatedSiluReference(P<float>(gu), P<float>(a), n, f);
    }

    /// <inheritdoc />
    public void GatedSiluBackward(Tensor gu, Tensor da, Tensor dgu)
    {
        if (Widen([gu, da], [dgu], (i, o) => GatedSiluBackward(i[0]!, i[1]!, o[0]!))) return;
        int f = da.Dim(-1), n = (int)(da.Numel / Math.Max(f, 1));
        if (IsF64(gu)) Elementwise.GatedSiluBackwardReference(P<double>(gu), P<double>(da), P<double>(dgu), n, f);
        else if (Fast) Elementwise.GatedSiluBackwardFast(P<float>(gu), P<float>(da), P<float>(dgu), n, f);
        else Elementwise.GatedSiluBackwardReference(P<float>(gu), P<float>(da), P<float>(dgu), n, f);
    }

    /// <inheritdoc />
    public void Softmax(Tensor x, Tensor? keyMask, bool causal, int batch, int tq, Tensor y)
    {
        if (Widen([x, keyMask], [y], (i, o) => Softmax(i[0]!, i[1], causal, batch, tq, o[0]!))) return;
        int tk = x.Dim(-1);
        long rows = x.Numel / Math.Max(tk, 1);
        if (IsF64(x)) Kernels.Softmax.Reference(P<double>(x), P<double>(keyMask), causal, batch, tq, rows, tk, P<double>(y));
        else if (Fast) Kernels.Softmax.Fast(P<float>(x), P<float>(keyMask), causal, batch, tq, rows, tk, P<float>(y));
        else Kernels.Softmax.Reference(P<float>(x), P<float>(keyMask), causal, batch, tq, rows, tk, P<float>(y));
    }

    /// <inheritdoc />
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx)
    {
        if (Widen([y, dy], [dx], (i, o) => SoftmaxBackward(i[0]!, i[1]!, o[0]!))) return;
        int tk = y.Dim(-1);
        long rows = y.Numel / Math.Max(tk, 1);
        if (IsF64(y)) Kernels.Softmax.BackwardReference(P<double>(y), P<double>(dy), P<double>(dx), rows, tk);
        else if (Fast) Kernels.Softmax.BackwardFast(P<float>(y), P<float>(dy), P<float>(dx), rows, tk);
        else Kernels.Softmax.BackwardReference(P<float>(y), P<float>(dy), P<float>(dx), rows, tk);
    }

    /// <inheritdoc />
    public void LayerNorm(Tensor x, Tensor? w, Tensor? b, double eps, Tensor y, Tensor mean, Tensor rstd)
    {
        if (Widen([x, w, b], [y], (i, o) => LayerNorm(i[0]!, i[1], i[2], eps, o[0]!, mean, rstd))) return;
        int c = x.Dim(-1), n = (int)(x.Numel / Math.Max(c, 1));
        if (IsF64(x)) Kernels.LayerNorm.Reference(P<double>(x), P<double>(w), P<double>(b), n, c, eps, P<double>(y), P<double>(mean), P<double>(rstd));
        else if (Fast) Kernels.LayerNorm.Fast(P<float>(x), P<float>(w), P<float>(b), n, c, eps, P<float>(y), P<float>(mean), P<float>(rstd));
        else Kernels.LayerNorm.Reference(P<float>(x), P<float>(w), P<float>(b), n, c, eps, P<float>(y), P<float>(mean), P<float>(rstd));
    }

    /// <inheritdoc />
    public void LayerNormBackward(Tensor x, Tensor? w, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw, Tensor? db)
    {
        if (Widen([x, w, dy], [dx, dw, db], (i, o) => LayerNormBackward(i[0]!, i[1], mean, rstd, i[2]!, o[0]!, o[1], o[2]))) return;
        int c = x.Dim(-1), n = (int)(x.Numel / Math.Max(c, 1));
        if (IsF64(x)) Kernels.LayerNorm.BackwardReference(P<double>(x), P<double>(w), P<double>(mean), P<double>(rstd), P<double>(dy), n, c, P<double>(dx), P<double>(dw), P<double>(db));
        else if (Fast) Kernels.LayerNorm.BackwardFast(P<float>(x), P<float>(w), P<float>(mean), P<float>(rstd), P<float>(dy), n, c, P<float>(dx), P<float>(dw), P<float>(db), rms: false);
        else Kernels.LayerNorm.BackwardReference(P<float>(x), P<float>(w), P<float>(mean), P<float>(rstd), P<float>(dy), n, c, P<float>(dx), P<float>(dw), P<float>(db));
    }

    /// <inheritdoc />
    public void RmsNorm(Tensor x, Tensor? w, double eps, Tensor y, Tensor rstd)
    {
        if (x.DType.IsHalfPrecision())
        {
            // transformers' Phi3RMSNorm: h = x·rstd in f32, rounded to the input dtype, then w·h in that dtype.
            using var xf = x.CastNoGrad(DType.F32);
            using var hf = Tensor.Empty(x.Shape, DType.F32, x.Device, register: false);
            RmsNorm(xf, null, eps, hf, rstd);
            if (w is null)
            {
                TensorMath.CpuCopy(hf, y);
                return;
            }
            using var hh = hf.CastNoGrad(x.DType);
            using var hr = hh.CastNoGrad(DType.F32);
            using var wf = w.CastNoGrad(DType.F32);
            using var we = wf.ExpandNoGrad(x.Shape);
            using var yf = Tensor.Empty(x.Shape, DType.F32, x.Device, register: false);
            Binary(BinaryOp.Mul, hr, we, yf);
            TensorMath.CpuCopy(yf, y);
            return;
        }
        if (Widen([x, w], [y], (i, o) => RmsNorm(i[0]!, i[1], eps, o[0]!, rstd))) return;
        int c = x.Dim(-1), n = (int)(x.Numel / Math.Max(c, 1));
        if (IsF64(x)) Kernels.RmsNorm.Reference(P<double>(x), P<double>(w), n, c, eps, P<double>(y), P<double>(rstd));
        else if (Fast) Kernels.RmsNorm.Fast(P<float>(x), P<float>(w), n, c, eps, P<float>(y), P<float>(rstd));
        else Kernels.RmsNorm.Reference(P<float>(x), P<float>(w), n, c, eps, P<float>(y), P<float>(rstd));
    }

    /// <inheritdoc />
    public void RmsNormBackward(Tensor x, Tensor? w, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw)
    {
        if (Widen([x, w, dy], [dx, dw], (i, o) => RmsNormBackward(i[0]!, i[1], rstd, i[2]!, o[0]!, o[1]))) return;
        int c = x.Dim(-1), n = (int)(x.Numel / Math.Max(c, 1));
        if (IsF64(x)) Kernels.RmsNorm.BackwardReference(P<double>(x), P<double>(w), P<double>(rstd), P<double>(dy), n, c, P<double>(dx), P<double>(dw));
        else if (Fast) Kernels.LayerNorm.BackwardFast(P<float>(x), P<float>(w), null, P<float>(rstd), P<float>(dy), n, c, P<float>(dx), P<float>(dw), null, rms: true);
        else Kernels.RmsNorm.BackwardReference(P<float>(x), P<float>(w), P<float>(rstd), P<float>(dy), n, c, P<float>(dx), P<float>(dw));
    }

    /// <inheritdoc />
    public void Embedding(Tensor table, Tensor ids, Tensor y)
    {
        Kernels.Embedding.CheckIds(ids, table.Dim(0), "Embedding");
        int c = table.Dim(1);
        switch (table.ElementSize)
        {
            case 8: Kernels.Embedding.Reference(P<double>(table), ids, c, P<double>(y)); break;
            case 4: Kernels.Embedding.Reference(P<float>(table), ids, c, P<float>(y)); break;
            default: Kernels.Embedding.Reference(P<Half>(table), ids, c, P<Half>(y)); break;
        }
    }

    /// <inheritdoc />
    public void EmbeddingBackward(Tensor ids, Tensor dy, Tensor dtable)
    {
        if (Widen([dy], [dtable], (i, o) => EmbeddingBackward(ids, i[0]!, o[0]!))) return;
        int v = dtable.Dim(0), c = dtable.Dim(1);
        if (IsF64(dy)) Kernels.Embedding.BackwardReference(ids, P<double>(dy), v, c, P<double>(dtable));
        else Kernels.Embedding.BackwardReference(ids, P<float>(dy), v, c, P<float>(dtable));
    }

    /// <inheritdoc />
    public void Rope(Tensor x, Tensor cos, Tensor sin, Tensor y, bool backward)
    {
        if (Widen([x, cos, sin], [y], (i, o) => Rope(i[0]!, i[1]!, i[2]!, o[0]!, backward))) return;
        int t = x.Dim(-2), dh = x.Dim(-1), r = (int)(x.Numel / Math.Max(1L, (long)t * dh));
        if (IsF64(x)) Kernels.Rope.Reference(P<double>(x), P<double>(cos), P<double>(sin), P<double>(y), r, t, dh, backward);
        else Kernels.Rope.Reference(P<float>(x), P<float>(cos), P<float>(sin), P<float>(y), r, t, dh, backward);
    }

    /// <inheritdoc />
    public void Attention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o, Tensor lse)
    {
        if (Widen([q, k, v, keyMask], [o], (i, oo) => Attention(i[0]!, i[1]!, i[2]!, i[3], causal, scale, oo[0]!, lse))) return;
        int b = q.Dim(0), h = q.Dim(1), tq = q.Dim(2), dh = q.Dim(3), tk = k.Dim(2);
        var lq = Kernels.Attention.Layout.Of(q);
        var lk = Kernels.Attention.Layout.Of(k);
        var lv = Kernels.Attention.Layout.Of(v);
        if (IsF64(q)) Kernels.Attention.Reference(P<double>(q), lq, P<double>(k), lk, P<double>(v), lv, P<double>(keyMask), causal, scale, b, h, tq, tk, dh, P<double>(o), P<double>(lse));
        else if (Fast && Cpu.FlashAttention.Variant == Cpu.AttentionVariant.Flash) Cpu.FlashAttention.Forward(P<float>(q), lq, P<float>(k), lk, P<float>(v), lv, P<float>(keyMask), causal, (float)scale, b, h, tq, tk, dh, P<float>(o), P<float>(lse));
        else if (Fast) Kernels.Attention.Fast(P<float>(q), lq, P<float>(k), lk, P<float>(v), lv, P<float>(keyMask), causal, (float)scale, b, h, tq, tk, dh, P<float>(o), P<float>(lse));
        else Kernels.Attention.Reference(P<float>(q), lq, P<float>(k), lk, P<float>(v), lv, P<float>(keyMask), causal, scale, b, h, tq, tk, dh, P<float>(o), P<float>(lse));
    }

    /// <inheritdoc />
    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o,
        Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv)
    {
        if (Widen([q, k, v, keyMask, o, dO], [dq, dk, dv], (i, oo) => AttentionBackward(i[0]!, i[1]!, i[2]!, i[3], causal, scale, i[4]!, lse, i[5]!, oo[0]!, oo[1]!, oo[2]!))) return;
        int b = q.Dim(0), h = q.Dim(1), tq = q.Dim(2), dh = q.Dim(3), tk = k.Dim(2);
        var lq = Kernels.Attention.Layout.Of(q);
        var lk = Kernels.Attention.Layout.Of(k);
        var lv = Kernels.Attention.Layout.Of(v);
        if (IsF64(q)) Kernels.Attention.BackwardReference(P<double>(q), lq, P<double>(k), lk, P<double>(v), lv, P<double>(keyMask), causal, scale, b, h, tq, tk, dh, P<double>(o), P<double>(lse), P<double>(dO), P<double>(dq), P<double>(dk), P<double>(dv));
        else if (Fast) Kernels.Attention.BackwardFast(P<float>(q), lq, P<float>(k), lk, P<float>(v), lv, P<float>(keyMask), causal, (float)scale, b, h, tq, tk, dh, P<float>(o), P<float>(lse), P<float>(dO), P<float>(dq), P<float>(dk), P<float>(dv));
        else Kernels.Attention.BackwardReference(P<float>(q), lq, P<float>(k), lk, P<float>(v), lv, P<float>(keyMask), causal, scale, b, h, tq, tk, dh, P<float>(o), P<float>(lse), P<float>(dO), P<float>(dq), P<float>(dk), P<float>(dv));
    }

    /// <inheritdoc />
    public void Conv3d(Tensor x, Tensor w, Tensor? bias, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding, Tensor y)
    {
        var st = stride.ToArray();
        var pd = padding.ToArray();
        if (Widen([x, w, bias], [y], (i, o) => Conv3d(i[0]!, i[1]!, i[2], st, pd, o[0]!))) return;
        var g = Conv.Geometry.Of(x, w, st, pd);
        if (IsF64(x)) Conv.Reference(P<double>(x), P<double>(w), P<double>(bias), g, P<double>(y));
        else if (Fast) Conv.Fast(P<float>(x), P<float>(w), P<float>(bias), g, P<float>(y));
        else Conv.Reference(P<float>(x), P<float>(w), P<float>(bias), g, P<float>(y));
    }

    /// <inheritdoc />
    public void Conv3dBackward(Tensor x, Tensor w, Tensor dy, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding,
        Tensor? dx, Tensor? dw, Tensor? db)
    {
        var st = stride.ToArray();
        var pd = padding.ToArray();
        if (Widen([x, w, dy], [dx, dw, db], (i, o) => Conv3dBackward(i[0]!, i[1]!, i[2]!, st, pd, o[0], o[1], o[2]))) return;
        var g = Conv.Geometry.Of(x, w, st, pd);
        if (IsF64(x)) Conv.BackwardReference(P<double>(x), P<double>(w), P<double>(dy), g, P<double>(dx), P<double>(dw), P<double>(db));
        else Conv.BackwardReference(P<float>(x), P<float>(w), P<float>(dy), g, P<float>(dx), P<float>(dw), P<float>(db));
    }

    /// <inheritdoc />
    public void AvgPool3d(Tensor x, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor y)
    {
        var k = kernel.ToArray();
        var s = stride.ToArray();
        if (Widen([x], [y], (i, o) => AvgPool3d(i[0]!, k, s, o[0]!))) return;
        int n = x.Dim(0) * x.Dim(1);
        if (IsF64(x)) Pool.Reference(P<double>(x), n, x.Dim(2), x.Dim(3), x.Dim(4), k[0], k[1], k[2], s[0], s[1], s[2], y.Dim(2), y.Dim(3), y.Dim(4), P<double>(y));
        else Pool.Reference(P<float>(x), n, x.Dim(2), x.Dim(3), x.Dim(4), k[0], k[1], k[2], s[0], s[1], s[2], y.Dim(2), y.Dim(3), y.Dim(4), P<float>(y));
    }

    /// <inheritdoc />
    public void ResizeTrilinear3d(Tensor x, ReadOnlySpan<int> crop, Tensor y)
    {
        var box = crop.ToArray();
        if (Widen([x], [y], (i, o) => ResizeTrilinear3d(i[0]!, box, o[0]!))) return;
        int n = x.Dim(0) * x.Dim(1);
        if (IsF64(x)) Resize.Reference(P<double>(x), n, x.Dim(2), x.Dim(3), x.Dim(4), box, y.Dim(2), y.Dim(3), y.Dim(4), P<double>(y));
        else Resize.Reference(P<float>(x), n, x.Dim(2), x.Dim(3), x.Dim(4), box, y.Dim(2), y.Dim(3), y.Dim(4), P<float>(y));
    }

    /// <inheritdoc />
    public void AvgPool3dBackward(Tensor dy, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor dx)
    {
        var k = kernel.ToArray();
        var s = stride.ToArray();
        if (Widen([dy], [dx], (i, o) => AvgPool3dBackward(i[0]!, k, s, o[0]!))) return;
        int n = dx.Dim(0) * dx.Dim(1);
        if (IsF64(dy)) Pool.BackwardReference(P<double>(dy), n, dx.Dim(2), dx.Dim(3), dx.Dim(4), k[0], k[1], k[2], s[0], s[1], s[2], dy.Dim(2), dy.Dim(3), dy.Dim(4), P<double>(dx));
        else Pool.BackwardReference(P<float>(dy), n, dx.Dim(2), dx.Dim(3), dx.Dim(4), k[0], k[1], k[2], s[0], s[1], s[2], dy.Dim(2), dy.Dim(3), dy.Dim(4), P<float>(dx));
    }

    /// <inheritdoc />
    public void IndexSelect(Tensor x, Tensor ids, int outer, int n, int inner, Tensor y)
    {
        Kernels.Embedding.CheckIds(ids, n, "IndexSelect");
        switch (x.ElementSize)
        {
            case 8: Indexing.IndexSelectReference(P<long>(x), ids, outer, n, inner, P<long>(y)); break;
            case 4: Indexing.IndexSelectReference(P<int>(x), ids, outer, n, inner, P<int>(y)); break;
            case 2: Indexing.IndexSelectReference(P<ushort>(x), ids, outer, n, inner, P<ushort>(y)); break;
            default: Indexing.IndexSelectReference(P<byte>(x), ids, outer, n, inner, P<byte>(y)); break;
        }
    }

    /// <inheritdoc />
    public void IndexAdd(Tensor dy, Tensor ids, int outer, int n, int inner, Tensor dx)
    {
        if (Widen([dy], [dx], (i, o) => IndexAdd(i[0]!, ids, outer, n, inner, o[0]!))) return;
        if (IsF64(dy)) Indexing.IndexAddReference(P<double>(dy), ids, outer, n, inner, P<double>(dx));
        else Indexing.IndexAddReference(P<float>(dy), ids, outer, n, inner, P<float>(dx));
    }

    /// <inheritdoc />
    public void Gather(Tensor x, Tensor index, int outer, int n, int m, int inner, Tensor y)
    {
        Kernels.Embedding.CheckIds(index, n, "Gather");
        switch (x.ElementSize)
        {
            case 8: Indexing.GatherReference(P<long>(x), index, outer, n, m, inner, P<long>(y)); break;
            case 4: Indexing.GatherReference(P<int>(x), index, outer, n, m, inner, P<int>(y)); break;
            case 2: Indexing.GatherReference(P<ushort>(x), index, outer, n, m, inner, P<ushort>(y)); break;
            default: Indexing.GatherReference(P<byte>(x), index, outer, n, m, inner, P<byte>(y)); break;
        }
    }

    /// <inheritdoc />
    public void ScatterAdd(Tensor dy, Tensor index, int outer, int n, int m, int inner, Tensor dx)
    {
        if (Widen([dy], [dx], (i, o) => ScatterAdd(i[0]!, index, outer, n, m, inner, o[0]!))) return;
        if (IsF64(dy)) Indexing.ScatterAddReference(P<double>(dy), index, outer, n, m, inner, P<double>(dx));
        else Indexing.ScatterAddReference(P<float>(dy), index, outer, n, m, inner, P<float>(dx));
    }

    /// <inheritdoc />
    public void CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex, Tensor losses, Tensor lse)
    {
        if (Widen([logits], [], (i, _) => CrossEntropy(i[0]!, targets, ignoreIndex, losses, lse))) return;
        int v = logits.Dim(-1), n = (int)(logits.Numel / Math.Max(v, 1));
        if (IsF64(logits)) Kernels.CrossEntropy.Reference(P<double>(logits), P<long>(targets), ignoreIndex, n, v, P<double>(losses), P<double>(lse));
        else if (Fast) Kernels.CrossEntropy.Fast(P<float>(logits), P<long>(targets), ignoreIndex, n, v, P<float>(losses), P<float>(lse));
        else Kernels.CrossEntropy.Reference(P<float>(logits), P<long>(targets), ignoreIndex, n, v, P<float>(losses), P<float>(lse));
    }

    /// <inheritdoc />
    public void CrossEntropyBackward(Tensor logits, Tensor targets, long ignoreIndex, Tensor lse, Tensor dLoss, Tensor dlogits)
    {
        if (Widen([logits], [dlogits], (i, o) => CrossEntropyBackward(i[0]!, targets, ignoreIndex, lse, dLoss, o[0]!))) return;
        int v = logits.Dim(-1), n = (int)(logits.Numel / Math.Max(v, 1));
        if (IsF64(logits)) Kernels.CrossEntropy.BackwardReference(P<double>(logits), P<long>(targets), ignoreIndex, P<double>(lse), P<double>(dLoss), n, v, P<double>(dlogits));
        else if (Fast) Kernels.CrossEntropy.BackwardFast(P<float>(logits), P<long>(targets), ignoreIndex, P<float>(lse), P<float>(dLoss), n, v, P<float>(dlogits));
        else Kernels.CrossEntropy.BackwardReference(P<float>(logits), P<long>(targets), ignoreIndex, P<float>(lse), P<float>(dLoss), n, v, P<float>(dlogits));
    }

    /// <inheritdoc />
    public void Argmax(Tensor x, Tensor y)
    {
        if (Widen([x], [], (i, _) => Argmax(i[0]!, y))) return;
        int v = x.Dim(-1), n = (int)(x.Numel / Math.Max(v, 1));
        if (IsF64(x)) Sampling.ArgmaxReference(P<double>(x), n, v, P<long>(y));
        else Sampling.ArgmaxReference(P<float>(x), n, v, P<long>(y));
    }

    /// <inheritdoc />
    public void TopK(Tensor x, int k, Tensor values, Tensor indices)
    {
        if (Widen([x], [values], (i, o) => TopK(i[0]!, k, o[0]!, indices))) return;
        int v = x.Dim(-1), n = (int)(x.Numel / Math.Max(v, 1));
        if (IsF64(x)) Sampling.TopKReference(P<double>(x), n, v, k, P<double>(values), P<long>(indices));
        else Sampling.TopKReference(P<float>(x), n, v, k, P<float>(values), P<long>(indices));
    }

    /// <inheritdoc />
    public int SampleTopP(Tensor logits, double temperature, int topK, double topP, double u) =>
        Sampling.SampleReference(logits.ToDoubleArray(), temperature, topK, topP, u);

    /// <inheritdoc />
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p)
    {
        if (Widen([grad], [param, m, v], (i, o) => AdamW(o[0]!, i[0]!, o[1]!, o[2]!, p))) return;
        if (IsF64(param)) Optim.AdamWReference(P<double>(param), P<double>(grad), P<double>(m), P<double>(v), param.Numel, p);
        else Optim.AdamWReference(P<float>(param), P<float>(grad), P<float>(m), P<float>(v), param.Numel, p);
    }

    /// <inheritdoc />
    public double SumOfSquares(Tensor x)
    {
        if (x.DType.IsHalfPrecision())
        {
            using var f = x.CastNoGrad(DType.F32);
            return SumOfSquares(f);
        }
        return IsF64(x) ? Optim.SumOfSquaresReference(P<double>(x), x.Numel) : Optim.SumOfSquaresReference(P<float>(x), x.Numel);
    }
}
