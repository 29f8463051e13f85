using System.Numerics;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Element-wise ops: unary activations (GELU erf/tanh, SiLU, tanh, …), binary ops with broadcasting,
/// y = alpha·x + beta, and the Phi-3 gated SiLU. The references compute every element in double and round once.
/// </summary>
public static unsafe class Elementwise
{
    private const double Sqrt2OverPi = 0.79788456080286535587989211986876;
    private const double GeluTanhC = 0.044715;
    private const double InvSqrt2 = 0.70710678118654752440084436210485;
    private const double InvSqrt2Pi = 0.39894228040143267793994605993438;

    /// <summary>The op kind of a unary function.</summary>
    public static OpKind KindOf(UnaryOp op) => op switch
    {
        UnaryOp.Neg => OpKind.Neg,
        UnaryOp.Exp => OpKind.Exp,
        UnaryOp.Log => OpKind.Log,
        UnaryOp.Sqrt => OpKind.Sqrt,
        UnaryOp.Relu => OpKind.Relu,
        UnaryOp.Tanh => OpKind.Tanh,
        UnaryOp.Sigmoid => OpKind.Sigmoid,
        UnaryOp.Gelu => OpKind.Gelu,
        UnaryOp.GeluTanh => OpKind.GeluTanh,
        _ => OpKind.Silu,
    };

    /// <summary>The op kind of a binary function.</summary>
    public static OpKind KindOf(BinaryOp op) => op switch
    {
        BinaryOp.Add => OpKind.Add,
        BinaryOp.Sub => OpKind.Sub,
        BinaryOp.Mul => OpKind.Mul,
        _ => OpKind.Div,
    };

    // ---------------------------------------------------------------- reference math (the definition)

    /// <summary>f(x) in double.</summary>
    public static double F(UnaryOp op, double x) => op switch
    {
        UnaryOp.Neg => -x,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Relu => x > 0 ? x : 0,
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Sigmoid => 1.0 / (1.0 + Math.Exp(-x)),
        UnaryOp.Gelu => 0.5 * x * (1.0 + Erf.Eval(x * InvSqrt2)),
        UnaryOp.GeluTanh => 0.5 * x * (1.0 + Math.Tanh(Sqrt2OverPi * (x + GeluTanhC * x * x * x))),
        _ => x / (1.0 + Math.Exp(-x)),
    };

    /// <summary>f'(x) in double.</summary>
    public static double DF(UnaryOp op, double x)
    {
        switch (op)
        {
            case UnaryOp.Neg: return -1;
            case UnaryOp.Exp: return Math.Exp(x);
            case UnaryOp.Log: return 1.0 / x;
            case UnaryOp.Sqrt: return 0.5 / Math.Sqrt(x);
            case UnaryOp.Relu: return x > 0 ? 1 : 0;
            case UnaryOp.Tanh:
            {
                double t = Math.Tanh(x);
                return 1 - t * t;
            }
            case UnaryOp.Sigmoid:
            {
                double s = 1.0 / (1.0 + Math.Exp(-x));
                return s * (1 - s);
            }
            case UnaryOp.Gelu:
                return 0.5 * (1.0 + Erf.Eval(x * InvSqrt2)) + x * InvSqrt2Pi * Math.Exp(-0.5 * x * x);
            case UnaryOp.GeluTanh:
            {
                double u = Sqrt2OverPi * (x + GeluTanhC * x * x * x);
                double t = Math.Tanh(u);
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Sqrt2OverPi * (1 + 3 * GeluTanhC * x * x);
            }
            default:
            {
                double s = 1.0 / (1.0 + Math.Exp(-x));
                return s + x * s * (1 - s);
            }
        }
    }

    /// <summary>Reference: y[i] = f(x[i]) over n contiguous elements.</summary>
    public static void UnaryReference<T>(UnaryOp op, T* x, T* y, long n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 1 << 14, (s, e) =>
        {
            for (long i = s; i < e; i++) y[i] = T.CreateTruncating(F(op, double.CreateTruncating(x[i])));
        });
    }

    /// <summary>Reference: dx[i] = f'(x[i])·dy[i].</summary>
    public static void UnaryBackwardReference<T>(UnaryOp op, T* x, T* dy, T* dx, long n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 1 << 14, (s, e) =>
        {
            for (long i = s; i < e; i++)
                dx[i] = T.CreateTruncating(DF(op, double.CreateTruncating(x[i])) * double.CreateTruncating(dy[i]));
        });
    }

    /// <summary>Fast f32 path: TensorPrimitives and the vectorised activations of <see cref="VectorMath"/>.</summary>
    public static void UnaryFast(UnaryOp op, float* x, float* y, long n)
    {
        switch (op)
        {
            case UnaryOp.Gelu: VectorMath.GeluErf(x, y, n); return;
            case UnaryOp.GeluTanh: VectorMath.GeluTanh(x, y, n); return;
            case UnaryOp.Silu: VectorMath.Silu(x, y, n); return;
        }
        Par.For(n, 1 << 15, (s, e) =>
        {
            var xs = new ReadOnlySpan<float>(x + s, (int)(e - s));
            var ys = new Span<float>(y + s, (int)(e - s));
            switch (op)
            {
                case UnaryOp.Neg: TensorPrimitives.Negate(xs, ys); break;
                case UnaryOp.Exp: TensorPrimitives.Exp(xs, ys); break;
                case UnaryOp.Log: TensorPrimitives.Log(xs, ys); break;
                case UnaryOp.Sqrt: TensorPrimitives.Sqrt(xs, ys); break;
                case UnaryOp.Relu: TensorPrimitives.Max(xs, 0f, ys); break;
                case UnaryOp.Tanh: TensorPrimitives.Tanh(xs, ys); break;
                default: TensorPrimitives.Sigmoid(xs, ys); break;
            }
        });
    }

    // ---------------------------------------------------------------- binary

    /// <summary>a ∘ b in double.</summary>
    public static double F(BinaryOp op, double a, double b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        _ => a / b,
    };

    /// <summary>
    /// Reference: y (contiguous, shape <paramref name="shape"/>) = a ∘ b, where a and b are read through their own
    /// strides (zero on broadcast axes).
    /// </summary>
    public static void BinaryReference<T>(BinaryOp op, T* a, int[] sa, T* b, int[] sb, T* y, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rank = shape.Length;
        long n = Shapes.Numel(shape);
        int inner = rank == 0 ? 1 : shape[^1];
        long rows = inner == 0 ? 0 : n / inner;
        int ia = rank == 0 ? 0 : sa[^1], ib = rank == 0 ? 0 : sb[^1];
        Par.For(rows, 64, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                long oa = 0, ob = 0, rem = r;
                for (int d = rank - 2; d >= 0; d--)
                {
                    long idx = rem % shape[d];
                    rem /= shape[d];
                    oa += idx * sa[d];
                    ob += idx * sb[d];
                }
                T* yr = y + r * inner;
                for (int i = 0; i < inner; i++)
                    yr[i] = T.CreateTruncating(F(op, double.CreateTruncating(a[oa + (long)i * ia]), double.CreateTruncating(b[ob + (long)i * ib])));
            }
        });
    }

    /// <summary>Fast f32 binary: contiguous operands and row-broadcast operands go through TensorPrimitives.</summary>
    public static void BinaryFast(BinaryOp op, float* a, int[] sa, float* b, int[] sb, float* y, int[] shape)
    {
        int rank = shape.Length;
        long n = Shapes.Numel(shape);
        var cs = Shapes.ContiguousStrides(shape);
        bool ca = IsDense(sa, cs, shape), cb = IsDense(sb, cs, shape);
        if (rank == 0 || (!RowMode(sa, cs, shape, ca) || !RowMode(sb, cs, shape, cb)))
        {
            BinaryReference(op, a, sa, b, sb, y, shape);
            return;
        }
        int inner = shape[^1];
        long rows = inner == 0 ? 0 : n / inner;
        Par.For(rows, Math.Max(1, (1 << 15) / Math.Max(inner, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                long oa = ca ? r * inner : RowOffset(r, sa, shape);
                long ob = cb ? r * inner : RowOffset(r, sb, shape);
                var ys = new Span<float>(y + r * inner, inner);
                bool scalarA = sa[^1] == 0 && inner > 1, scalarB = sb[^1] == 0 && inner > 1;
                if (scalarA && scalarB)
                {
                    float v = (float)F(op, a[oa], b[ob]);
                    ys.Fill(v);
                    continue;
                }
                if (scalarB)
                {
                    var xa = new ReadOnlySpan<float>(a + oa, inner);
                    float bv = b[ob];
                    switch (op)
                    {
                        case BinaryOp.Add: TensorPrimitives.Add(xa, bv, ys); break;
                        case BinaryOp.Sub: TensorPrimitives.Subtract(xa, bv, ys); break;
                        case BinaryOp.Mul: TensorPrimitives.Multiply(xa, bv, ys); break;
                        default: TensorPrimitives.Divide(xa, bv, ys); break;
                    }
                    continue;
                }
                if (scalarA)
                {
                    var xb = new ReadOnlySpan<float>(b + ob, inner);
                    float av = a[oa];
                    switch (op)
                    {
                        case BinaryOp.Add: TensorPrimitives.Add(xb, av, ys); break;
                        case BinaryOp.Sub: TensorPrimitives.Subtract(av, xb, ys); break;
                        case BinaryOp.Mul: TensorPrimitives.Multiply(xb, av, ys); break;
                        default: TensorPrimitives.Divide(av, xb, ys); break;
                    }
                    continue;
                }
                var sa2 = new ReadOnlySpan<float>(a + oa, inner);
                var sb2 = new ReadOnlySpan<float>(b + ob, inner);
                switch (op)
                {
                    case BinaryOp.Add: TensorPrimitives.Add(sa2, sb2, ys); break;
                    case BinaryOp.Sub: TensorPrimitives.Subtract(sa2, sb2, ys); break;
                    case BinaryOp.Mul: TensorPrimitives.Multiply(sa2, sb2, ys); break;
                    default: TensorPrimitives.Divide(sa2, sb2, ys); break;
                }
            }
        });
    }

    private static bool IsDense(int[] s, int[] cs, int[] shape)
    {
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] != 1 && s[i] != cs[i]) return false;
        return true;
    }

    // A row is usable by TensorPrimitives when the last axis is unit-stride or broadcast.
    private static bool RowMode(int[] s, int[] cs, int[] shape, bool dense) =>
        dense || shape.Length == 0 || s[^1] == 1 || s[^1] == 0 || shape[^1] == 1;

    private static long RowOffset(long r, int[] s, int[] shape)
    {
        long o = 0;
        for (int d = shape.Length - 2; d >= 0; d--)
        {
            long idx = r % shape[d];
            r /= shape[d];
            o += idx * s[d];
        }
        return o;
    }

    // ---------------------------------------------------------------- gated SiLU

    /// <summary>Reference: a[n, f] = gu[n, F + f]·silu(gu[n, f]) with gate first, up second.</summary>
    public static void GatedSiluReference<T>(T* gu, T* a, int n, int f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 16, (s, e) =>
        {
            for (long r = s; r < e; r++)
                for (int i = 0; i < f; i++)
                {
                    double g = double.CreateTruncating(gu[r * 2 * f + i]);
                    double u = double.CreateTruncating(gu[r * 2 * f + f + i]);
                    a[r * f + i] = T.CreateTruncating(u * g / (1.0 + Math.Exp(-g)));
                }
        });
    }

    /// <summary>Reference gradient of the gated SiLU.</summary>
    public static void GatedSiluBackwardReference<T>(T* gu, T* da, T* dgu, int n, int f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 16, (s, e) =>
        {
            for (long r = s; r < e; r++)
                for (int i = 0; i < f; i++)
                {
                    double g = double.CreateTruncating(gu[r * 2 * f + i]);
                    double u = double.CreateTruncating(gu[r * 2 * f + f + i]);
                    double d = double.CreateTruncating(da[r * f + i]);
                    double sg = 1.0 / (1.0 + Math.Exp(-g));
                    dgu[r * 2 * f + i] = T.CreateTruncating(d * u * (sg + g * sg * (1 - sg)));
                    dgu[r * 2 * f + f + i] = T.CreateTruncating(d * g * sg);
                }
        });
    }

    /// <summary>Fast f32 gated SiLU: silu of the gate half (vectorised), times the up half.</summary>
    public static void GatedSiluFast(float* gu, float* a, int n, int f)
    {
        Par.For(n, Math.Max(1, 8192 / Math.Max(f, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                float* g = gu + r * 2 * f;
                VectorMath.Silu(g, a + r * f, f);
                var ar = new Span<float>(a + r * f, f);
                TensorPrimitives.Multiply(ar, new ReadOnlySpan<float>(g + f, f), ar);
            }
        });
    }

    /// <summary>Fast f32 gated SiLU backward: dgate = da·up·silu′(gate), dup = da·silu(gate).</summary>
    public static void GatedSiluBackwardFast(float* gu, float* da, float* dgu, int n, int f)
    {
        Par.For(n, Math.Max(1, 8192 / Math.Max(f, 1)), (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                float* g = gu + r * 2 * f;
                float* u = g + f;
                float* d = da + r * f;
                float* dg = dgu + r * 2 * f;
                float* du = dg + f;
                int i = 0;
                for (; i + 8 <= f; i += 8)
                {
                    var gv = System.Runtime.Intrinsics.Vector256.Load(g + i);
                    var one = System.Runtime.Intrinsics.Vector256<float>.One;
                    var sg = one / (one + System.Runtime.Intrinsics.Vector256.Exp(-gv));
                    var dv = System.Runtime.Intrinsics.Vector256.Load(d + i);
                    (dv * gv * sg).Store(du + i);
                    (dv * System.Runtime.Intrinsics.Vector256.Load(u + i) * (sg + gv * sg * (one - sg))).Store(dg + i);
                }
                for (; i < f; i++)
                {
                    float sg = 1f / (1f + MathF.Exp(-g[i]));
                    du[i] = d[i] * g[i] * sg;
                    dg[i] = d[i] * u[i] * (sg + g[i] * sg * (1 - sg));
                }
            }
        });
    }

    // ---------------------------------------------------------------- F-level (autograd)

    internal static Tensor Unary(UnaryOp op, Tensor x)
    {
        var kind = KindOf(op);
        Dispatch.Float(kind.ToString(), x);
        var be = Dispatch.Backend(kind, x);
        using var xc = Dispatch.C(x);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        be.Unary(op, xc, y);
        return Autograd.Record(y, kind, kind.ToString(), [x], [xc], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(g.Shape, g.DType, g.Device);
            Backends.For(g.Device).UnaryBackward(op, node.Saved[0]!, gc, dx);
            return [dx];
        });
    }

    internal static Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        var kind = KindOf(op);
        Dispatch.Same(kind.ToString(), a, b);
        Dispatch.Float(kind.ToString(), a);
        var be = Dispatch.Backend(kind, a);
        var shape = Shapes.Broadcast(a.ShapeSpan, b.ShapeSpan, kind.ToString());
        var y = Tensor.Empty(shape, a.DType, a.Device);
        using (var ea = a.ExpandNoGrad(shape))
        using (var eb = b.ExpandNoGrad(shape))
            be.Binary(op, ea, eb, y);
        var sa = a.Shape;
        var sb = b.Shape;
        bool needA = a.RequiresGrad, needB = b.RequiresGrad;
        Tensor?[] saved = op switch
        {
            BinaryOp.Mul => [needB ? a : null, needA ? b : null],
            BinaryOp.Div => [needB ? a : null, b],
            _ => [],
        };
        return Autograd.Record(y, kind, kind.ToString(), [a, b], saved, (node, g) =>
        {
            Tensor? da = null, db = null;
            switch (op)
            {
                case BinaryOp.Add:
                    if (node.NeedsInputGrad(0)) da = TensorMath.SumTo(g, sa);
                    if (node.NeedsInputGrad(1)) db = TensorMath.SumTo(g, sb);
                    break;
                case BinaryOp.Sub:
                    if (node.NeedsInputGrad(0)) da = TensorMath.SumTo(g, sa);
                    if (node.NeedsInputGrad(1))
                    {
                        using var s = TensorMath.SumTo(g, sb);
                        db = Scale(s, -1, 0);
                    }
                    break;
                case BinaryOp.Mul:
                    if (node.NeedsInputGrad(0))
                    {
                        using var t = Binary(BinaryOp.Mul, g, node.Saved[1]!);
                        da = TensorMath.SumTo(t, sa);
                    }
                    if (node.NeedsInputGrad(1))
                    {
                        using var t = Binary(BinaryOp.Mul, g, node.Saved[0]!);
                        db = TensorMath.SumTo(t, sb);
                    }
                    break;
                default:
                    using (var gb = Binary(BinaryOp.Div, g, node.Saved[1]!))
                    {
                        if (node.NeedsInputGrad(0)) da = TensorMath.SumTo(gb, sa);
                        if (node.NeedsInputGrad(1))
                        {
                            // d(a/b)/db = −(g/b)·(a/b)
                            using var q = Binary(BinaryOp.Div, node.Saved[0]!, node.Saved[1]!);
                            using var t = Binary(BinaryOp.Mul, gb, q);
                            using var s = TensorMath.SumTo(t, sb);
                            db = Scale(s, -1, 0);
                        }
                    }
                    break;
            }
            return [da, db];
        });
    }

    internal static Tensor Scale(Tensor x, double alpha, double beta)
    {
        Dispatch.Float("Scale", x);
        var be = Dispatch.Backend(OpKind.Scale, x);
        using var xc = Dispatch.C(x);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        be.Scale(xc, alpha, beta, y);
        return Autograd.Record(y, OpKind.Scale, "Scale", [x], [], (_, g) => [Scale(g, alpha, 0)]);
    }

    /// <summary>Reference: y = alpha·x + beta.</summary>
    public static void ScaleReference<T>(T* x, double alpha, double beta, T* y, long n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(n, 1 << 15, (s, e) =>
        {
            for (long i = s; i < e; i++) y[i] = T.CreateTruncating(alpha * double.CreateTruncating(x[i]) + beta);
        });
    }

    internal static Tensor GatedSilu(Tensor gu)
    {
        Dispatch.Float("GatedSilu", gu);
        if (gu.Rank < 1 || gu.Dim(-1) % 2 != 0)
            throw new ShapeMismatchException("GatedSilu", gu.ShapeSpan, "last axis must be even (gate and up halves)");
        var be = Dispatch.Backend(OpKind.GatedSilu, gu);
        using var c = Dispatch.C(gu);
        var shape = gu.Shape;
        shape[^1] /= 2;
        var a = Tensor.Empty(shape, gu.DType, gu.Device);
        be.GatedSilu(c, a);
        return Autograd.Record(a, OpKind.GatedSilu, "GatedSilu", [gu], [c], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var d = Tensor.Empty(node.Saved[0]!.Shape, g.DType, g.Device);
            Backends.For(g.Device).GatedSiluBackward(node.Saved[0]!, gc, d);
            return [d];
        });
    }
}
