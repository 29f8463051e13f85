using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Med2E3.Native.Ops.Ops;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>
/// Vectorised f32 activations for the fast CPU path. GELU(erf) evaluates Cody's erf/erfc rational approximations
/// (the same coefficients as <see cref="Erf"/>) in double, four lanes at a time, and rounds once to f32, so the
/// result is within an ulp of the reference. GELU(tanh) and SiLU are evaluated as x / (1 + e^a) with vectorised exp.
/// </summary>
public static class VectorMath
{
    private const double InvSqrt2 = 0.70710678118654752440084436210485;
    private const double InvSqrtPi = 5.6418958354775628695e-1;

    // Coefficients of Erf.cs (W. J. Cody).
    private const double A0 = 3.16112374387056560e00, A1 = 1.13864154151050156e02, A2 = 3.77485237685302021e02, A3 = 3.20937758913846947e03, A4 = 1.85777706184603153e-1;
    private const double B0 = 2.36012909523441209e01, B1 = 2.44024637934444173e02, B2 = 1.28261652607737228e03, B3 = 2.84423683343917062e03;
    private const double C0 = 5.64188496988670089e-1, C1 = 8.88314979438837594e00, C2 = 6.61191906371416295e01, C3 = 2.98635138197400131e02, C4 = 8.81952221241769090e02, C5 = 1.71204761263407058e03, C6 = 2.05107837782607147e03, C7 = 1.23033935479799725e03, C8 = 2.15311535474403846e-8;
    private const double D0 = 1.57449261107098347e01, D1 = 1.17693950891312499e02, D2 = 5.37181101862009858e02, D3 = 1.62138957456669019e03, D4 = 3.29079923573345963e03, D5 = 4.36261909014324716e03, D6 = 3.43936767414372164e03, D7 = 1.23033935480374942e03;
    private const double P0 = 3.05326634961232344e-1, P1 = 3.60344899949804439e-1, P2 = 1.25781726111229246e-1, P3 = 1.60837851487422766e-2, P4 = 6.58749161529837803e-4, P5 = 1.63153871373020978e-2;
    private const double Q0 = 2.56852019228982242e00, Q1 = 1.87295284992346725e00, Q2 = 5.27905102951428412e-1, Q3 = 6.05183413124413191e-2, Q4 = 2.33520497626869185e-3;

    /// <summary>GELU(x) = 0.5·x·(1 + erf(x/√2)) for four doubles, via erf for small |x| and erfc otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Gelu4(Vector256<double> x) => x * Phi4(x);

    /// <summary>Φ(x) = 0.5·(1 + erf(x/√2)) for four doubles, via erf for small |x| and erfc otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Phi4(Vector256<double> x)
    {
        var t = Vector256.Abs(x) * Vector256.Create(InvSqrt2);
        // Region 1, t ≤ 0.46875: erf(t) = t·P(t²)/Q(t²).
        var ysq = t * t;
        var num = Vector256.Create(A4) * ysq;
        var den = ysq;
        num = (num + Vector256.Create(A0)) * ysq;
        den = (den + Vector256.Create(B0)) * ysq;
        num = (num + Vector256.Create(A1)) * ysq;
        den = (den + Vector256.Create(B1)) * ysq;
        num = (num + Vector256.Create(A2)) * ysq;
        den = (den + Vector256.Create(B2)) * ysq;
        var e1 = t * (num + Vector256.Create(A3)) / (den + Vector256.Create(B3));
        // Region 2, t ≤ 4: erfc(t) = exp(−t²)·P(t)/Q(t).
        var n2 = Vector256.Create(C8) * t;
        var d2 = t;
        n2 = (n2 + Vector256.Create(C0)) * t; d2 = (d2 + Vector256.Create(D0)) * t;
        n2 = (n2 + Vector256.Create(C1)) * t; d2 = (d2 + Vector256.Create(D1)) * t;
        n2 = (n2 + Vector256.Create(C2)) * t; d2 = (d2 + Vector256.Create(D2)) * t;
        n2 = (n2 + Vector256.Create(C3)) * t; d2 = (d2 + Vector256.Create(D3)) * t;
        n2 = (n2 + Vector256.Create(C4)) * t; d2 = (d2 + Vector256.Create(D4)) * t;
        n2 = (n2 + Vector256.Create(C5)) * t; d2 = (d2 + Vector256.Create(D5)) * t;
        n2 = (n2 + Vector256.Create(C6)) * t; d2 = (d2 + Vector256.Create(D6)) * t;
        var r2 = (n2 + Vector256.Create(C7)) / (d2 + Vector256.Create(D7));
        // Region 3, t > 4: erfc(t) = exp(−t²)/t·(1/√π − z·P(z)/Q(z)), z = 1/t².
        var z = Vector256.Create(1.0) / ysq;
        var n3 = Vector256.Create(P5) * z;
        var d3 = z;
        n3 = (n3 + Vector256.Create(P0)) * z; d3 = (d3 + Vector256.Create(Q0)) * z;
        n3 = (n3 + Vector256.Create(P1)) * z; d3 = (d3 + Vector256.Create(Q1)) * z;
        n3 = (n3 + Vector256.Create(P2)) * z; d3 = (d3 + Vector256.Create(Q2)) * z;
        n3 = (n3 + Vector256.Create(P3)) * z; d3 = (d3 + Vector256.Create(Q3)) * z;
        var r3 = (Vector256.Create(InvSqrtPi) - z * (n3 + Vector256.Create(P4)) / (d3 + Vector256.Create(Q4))) / t;
        var r = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(t, Vector256.Create(4.0)), r2, r3);
        var erfc = Vector256.Exp(-ysq) * r;
        var small = Vector256.LessThanOrEqual(t, Vector256.Create(0.46875));
        var pos = Vector256.GreaterThanOrEqual(x, Vector256<double>.Zero);
        var one = Vector256.Create(1.0);
        // 1 + erf(x/√2): 1 ± erf(t) when small, else 2 − erfc(t) for x ≥ 0 and erfc(t) for x < 0.
        var onePlus = Vector256.ConditionalSelect(small,
            Vector256.ConditionalSelect(pos, one + e1, one - e1),
            Vector256.ConditionalSelect(pos, Vector256.Create(2.0) - erfc, erfc));
        return Vector256.Create(0.5) * onePlus;
    }

    /// <summary>GELU(x) = 0.5·x·(1 + erf(x/√2)) for eight doubles, via erf for small |x| and erfc otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Gelu8(Vector512<double> x) => x * Phi8(x);

    /// <summary>Φ(x) = 0.5·(1 + erf(x/√2)) for eight doubles, via erf for small |x| and erfc otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Phi8(Vector512<double> x)
    {
        var t = Vector512.Abs(x) * Vector512.Create(InvSqrt2);
        // Region 1, t ≤ 0.46875: erf(t) = t·P(t²)/Q(t²).
        var ysq = t * t;
        var num = Vector512.Create(A4) * ysq;
        var den = ysq;
        num = (num + Vector512.Create(A0)) * ysq;
        den = (den + Vector512.Create(B0)) * ysq;
        num = (num + Vector512.Create(A1)) * ysq;
        den = (den + Vector512.Create(B1)) * ysq;
        num = (num + Vector512.Create(A2)) * ysq;
        den = (den + Vector512.Create(B2)) * ysq;
        var e1 = t * (num + Vector512.Create(A3)) / (den + Vector512.Create(B3));
        // Region 2, t ≤ 4: erfc(t) = exp(−t²)·P(t)/Q(t).
        var n2 = Vector512.Create(C8) * t;
        var d2 = t;
        n2 = (n2 + Vector512.Create(C0)) * t; d2 = (d2 + Vector512.Create(D0)) * t;
        n2 = (n2 + Vector512.Create(C1)) * t; d2 = (d2 + Vector512.Create(D1)) * t;
        n2 = (n2 + Vector512.Create(C2)) * t; d2 = (d2 + Vector512.Create(D2)) * t;
        n2 = (n2 + Vector512.Create(C3)) * t; d2 = (d2 + Vector512.Create(D3)) * t;
        n2 = (n2 + Vector512.Create(C4)) * t; d2 = (d2 + Vector512.Create(D4)) * t;
        n2 = (n2 + Vector512.Create(C5)) * t; d2 = (d2 + Vector512.Create(D5)) * t;
        n2 = (n2 + Vector512.Create(C6)) * t; d2 = (d2 + Vector512.Create(D6)) * t;
        var r2 = (n2 + Vector512.Create(C7)) / (d2 + Vector512.Create(D7));
        // Region 3, t > 4: erfc(t) = exp(−t²)/t·(1/√π − z·P(z)/Q(z)), z = 1/t².
        var z = Vector512.Create(1.0) / ysq;
        var n3 = Vector512.Create(P5) * z;
        var d3 = z;
        n3 = (n3 + Vector512.Create(P0)) * z; d3 = (d3 + Vector512.Create(Q0)) * z;
        n3 = (n3 + Vector512.Create(P1)) * z; d3 = (d3 + Vector512.Create(Q1)) * z;
        n3 = (n3 + Vector512.Create(P2)) * z; d3 = (d3 + Vector512.Create(Q2)) * z;
        n3 = (n3 + Vector512.Create(P3)) * z; d3 = (d3 + Vector512.Create(Q3)) * z;
        var r3 = (Vector512.Create(InvSqrtPi) - z * (n3 + Vector512.Create(P4)) / (d3 + Vector512.Create(Q4))) / t;
        var r = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(t, Vector512.Create(4.0)), r2, r3);
        var erfc = Vector512.Exp(-ysq) * r;
        var small = Vector512.LessThanOrEqual(t, Vector512.Create(0.46875));
        var pos = Vector512.GreaterThanOrEqual(x, Vector512<double>.Zero);
        var one = Vector512.Create(1.0);
        // 1 + erf(x/√2): 1 ± erf(t) when small, else 2 − erfc(t) for x ≥ 0 and erfc(t) for x < 0.
        var onePlus = Vector512.ConditionalSelect(small,
            Vector512.ConditionalSelect(pos, one + e1, one - e1),
            Vector512.ConditionalSelect(pos, Vector512.Create(2.0) - erfc, erfc));
        return Vector512.Create(0.5) * onePlus;
    }

    /// <summary>y = GELU(x) (exact erf form) in f32.</summary>
    public static unsafe void GeluErf(float* x, float* y, long n)
    {
        Par.For(n, 1 << 13, (s, e) =>
        {
            long i = s;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; i + 16 <= e; i += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load(x + i));
                    Vector512.Narrow(Gelu8(lo), Gelu8(hi)).Store(y + i);
                }
            }
            for (; i + 8 <= e; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(x + i));
                Vector256.Narrow(Gelu4(lo), Gelu4(hi)).Store(y + i);
            }
            for (; i < e; i++)
            {
                double v = x[i];
                y[i] = (float)(0.5 * v * (1.0 + Erf.Eval(v * InvSqrt2)));
            }
        });
    }

    /// <summary>
    /// y = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³), evaluated as the identical x / (1 + e^(−2u)), which needs
    /// one exponential and keeps full relative accuracy for negative x.
    /// </summary>
    public static unsafe void GeluTanh(float* x, float* y, long n) => XOverOnePlusExp(x, y, n, gelu: true);

    /// <summary>y = x·σ(x) = x / (1 + e^(−x)) in f32.</summary>
    public static unsafe void Silu(float* x, float* y, long n) => XOverOnePlusExp(x, y, n, gelu: false);

    private static unsafe void XOverOnePlusExp(float* x, float* y, long n, bool gelu)
    {
        const float c1 = -2f * 0.7978845608028654f, c3 = -2f * 0.7978845608028654f * 0.044715f;
        Par.For(n, 1 << 13, (s, e) =>
        {
            long i = s;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; i + 16 <= e; i += 16)
                {
                    var v = Vector512.Load(x + i);
                    var a = gelu ? v * (Vector512.Create(c1) + Vector512.Create(c3) * v * v) : -v;
                    (v / (Vector512<float>.One + Vector512.Exp(a))).Store(y + i);
                }
            }
            for (; i + 8 <= e; i += 8)
            {
                var v = Vector256.Load(x + i);
                var a = gelu ? v * (Vector256.Create(c1) + Vector256.Create(c3) * v * v) : -v;
                (v / (Vector256<float>.One + Vector256.Exp(a))).Store(y + i);
            }
            for (; i < e; i++)
            {
                float v = x[i];
                float a = gelu ? v * (c1 + c3 * v * v) : -v;
                y[i] = v / (1f + MathF.Exp(a));
            }
        });
    }

    /// <summary>v[i] ← exp(v[i] − m) in place; returns Σ v[i] (sixteen float partial sums, then added in double).</summary>
    public static unsafe float ExpShiftSum(Span<float> v, float m)
    {
        fixed (float* p = v)
        {
            int n = v.Length, i = 0;
            double total = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var acc = Vector512<float>.Zero;
                var vm = Vector512.Create(m);
                for (; i + 16 <= n; i += 16)
                {
                    var e = Vector512.Exp(Vector512.Load(p + i) - vm);
                    e.Store(p + i);
                    acc += e;
                }
                for (int j = 0; j < 16; j++) total += acc[j];
            }
            var acc8 = Vector256<float>.Zero;
            var vm8 = Vector256.Create(m);
            for (; i + 8 <= n; i += 8)
            {
                var e = Vector256.Exp(Vector256.Load(p + i) - vm8);
                e.Store(p + i);
                acc8 += e;
            }
            for (int j = 0; j < 8; j++) total += acc8[j];
            for (; i < n; i++)
            {
                p[i] = MathF.Exp(p[i] - m);
                total += p[i];
            }
            return (float)total;
        }
    }

    /// <summary>dx = f'(x)·dy for the f32 activations, vectorised (GELU via Φ in double lanes).</summary>
    public static unsafe void ActivationBackward(Tensors.UnaryOp op, float* x, float* dy, float* dx, long n)
    {
        const double InvSqrt2Pi = 0.39894228040143267793994605993438;
        const float c = 0.7978845608028654f, k3 = 0.044715f;
        Par.For(n, 1 << 13, (s, e) =>
        {
            long i = s;
            switch (op)
            {
                case Tensors.UnaryOp.Gelu:
                    for (; i + 8 <= e; i += 8)
                    {
                        var (lo, hi) = Vector256.Widen(Vector256.Load(x + i));
                        var dlo = Phi4(lo) + lo * Vector256.Exp(Vector256.Create(-0.5) * lo * lo) * Vector256.Create(InvSqrt2Pi);
                        var dhi = Phi4(hi) + hi * Vector256.Exp(Vector256.Create(-0.5) * hi * hi) * Vector256.Create(InvSqrt2Pi);
                        (Vector256.Narrow(dlo, dhi) * Vector256.Load(dy + i)).Store(dx + i);
                    }
                    break;
                case Tensors.UnaryOp.GeluTanh:
                    // d/dx x·σ(2u) = σ + x·σ(1 − σ)·2u′, u′ = c·(1 + 3·0.044715·x²)
                    for (; i + 8 <= e; i += 8)
                    {
                        var v = Vector256.Load(x + i);
                        var v2 = v * v;
                        var sg = Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(Vector256.Create(-2f * c) * v * (Vector256<float>.One + Vector256.Create(k3) * v2)));
                        var du = Vector256.Create(2f * c) * (Vector256<float>.One + Vector256.Create(3f * k3) * v2);
                        ((sg + v * sg * (Vector256<float>.One - sg) * du) * Vector256.Load(dy + i)).Store(dx + i);
                    }
                    break;
                case Tensors.UnaryOp.Silu:
                    for (; i + 8 <= e; i += 8)
                    {
                        var v = Vector256.Load(x + i);
                        var sg = Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-v));
                        ((sg + v * sg * (Vector256<float>.One - sg)) * Vector256.Load(dy + i)).Store(dx + i);
                    }
                    break;
            }
            for (; i < e; i++) dx[i] = (float)(Elementwise.DF(op, x[i]) * dy[i]);
        });
    }
}
