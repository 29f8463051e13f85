using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using static Med2E3.Native.Tests.Shared.Oracle;

namespace Med2E3.Native.Tests.Shared;

/// <summary>The catalogue of conformance cases, at least one per <see cref="OpKind"/>.</summary>
public static class OpCases
{
    private static OpCase C(OpKind k, string name, Func<Gen, Tensor[]> inputs, Func<Tensor[], Tensor> run,
        Func<Arr[], double[]> oracle, Check check = Check.Elementwise) =>
        new(k, name, inputs, t => [run(t)], a => [oracle(a)], check);

    private static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    private static double Unary(OpKind k, double x) => k switch
    {
        OpKind.Neg => -x,
        OpKind.Exp => Math.Exp(x),
        OpKind.Log => Math.Log(x),
        OpKind.Sqrt => Math.Sqrt(x),
        OpKind.Relu => Math.Max(x, 0),
        OpKind.Tanh => Math.Tanh(x),
        OpKind.Sigmoid => Sig(x),
        OpKind.Gelu => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        OpKind.GeluTanh => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => x * Sig(x),
    };

    private static Tensor UnaryF(OpKind k, Tensor x) => k switch
    {
        OpKind.Neg => F.Neg(x),
        OpKind.Exp => F.Exp(x),
        OpKind.Log => F.Log(x),
        OpKind.Sqrt => F.Sqrt(x),
        OpKind.Relu => F.Relu(x),
        OpKind.Tanh => F.Tanh(x),
        OpKind.Sigmoid => F.Sigmoid(x),
        OpKind.Gelu => F.Gelu(x),
        OpKind.GeluTanh => F.GeluTanh(x),
        _ => F.Silu(x),
    };

    /// <summary>
    /// Oracle of the trilinear resize (align_corners = False) of the crop (z0, z1, y0, y1, x0, x1) of x (B, C, D, Hi, W)
    /// to <paramref name="size"/>: per axis the source coordinate in float32 as PyTorch computes it, then the weighted
    /// sum of the 8 corners in float64.
    /// </summary>
    public static double[] ResizeOracle(Arr x, int[] crop, int[] size)
    {
        (int Lo, int Hi, double L) Tap(int o, int n, int m)
        {
            float src = Math.Max(0f, (float)n / m * (o + 0.5f) - 0.5f);
            int lo = Math.Min((int)Math.Floor(src), n - 1);
            return (lo, Math.Min(lo + 1, n - 1), Math.Clamp(src - lo, 0f, 1f));
        }

        return Build([x.Shape[0], x.Shape[1], size[0], size[1], size[2]], ix =>
        {
            var tz = Tap(ix[2], crop[1] - crop[0], size[0]);
            var ty = Tap(ix[3], crop[3] - crop[2], size[1]);
            var tx = Tap(ix[4], crop[5] - crop[4], size[2]);
            double s = 0;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    for (int c = 0; c < 2; c++)
                    {
                        double wgt = (a == 0 ? 1 - tz.L : tz.L) * (b == 0 ? 1 - ty.L : ty.L) * (c == 0 ? 1 - tx.L : tx.L);
                        s += wgt * x[ix[0], ix[1], crop[0] + (a == 0 ? tz.Lo : tz.Hi), crop[2] + (b == 0 ? ty.Lo : ty.Hi),
                            crop[4] + (c == 0 ? tx.Lo : tx.Hi)];
                    }
            return s;
        });
    }

    /// <summary>Oracle of a batched matmul a (…, M, K)·b (…, K, N) with batch broadcasting.</summary>
    public static double[] MatMulOracle(Arr a, Arr b)
    {
        int m = a.Shape[^2], k = a.Shape[^1], n = b.Shape[^1];
        var batch = BroadcastShape(a.Shape[..^2], b.Shape[..^2]);
        int[] outShape = [.. batch, m, n];
        return Build(outShape, idx =>
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                int[] ia = [.. idx[..^2], idx[^2], p];
                int[] ib = [.. idx[..^2], p, idx[^1]];
                s += Broadcast(a, ia) * Broadcast(b, ib);
            }
            return s;
        });
    }

    private static int[] BroadcastShape(int[] a, int[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            o[i] = Math.Max(da, db);
        }
        return o;
    }

    private static double[] AttentionOracle(Arr q, Arr k, Arr v, Arr? mask, bool causal, double scale)
    {
        int b = q.Shape[0], h = q.Shape[1], tq = q.Shape[2], dh = q.Shape[3], tk = k.Shape[2];
        var o = new double[b * h * tq * dh];
        for (int bb = 0; bb < b; bb++)
        for (int hh = 0; hh < h; hh++)
        for (int i = 0; i < tq; i++)
        {
            var s = new double[tk];
            for (int j = 0; j < tk; j++)
            {
                double d = 0;
                for (int c = 0; c < dh; c++) d += q[bb, hh, i, c] * k[bb, hh, j, c];
                s[j] = d * scale + (mask is null ? 0 : mask[bb, j]);
                if (causal && j > i + tk - tq) s[j] = double.NegativeInfinity;
            }
            double m = s.Max();
            if (double.IsNegativeInfinity(m)) continue;
            var p = s.Select(x => Math.Exp(x - m)).ToArray();
            double z = p.Sum();
            for (int c = 0; c < dh; c++)
            {
                double acc = 0;
                for (int j = 0; j < tk; j++) acc += p[j] / z * v[bb, hh, j, c];
                o[((bb * h + hh) * tq + i) * dh + c] = acc;
            }
        }
        return o;
    }

    private static double[] ConvOracle(Arr x, Arr w, Arr? bias, int[] st, int[] pd)
    {
        int b = x.Shape[0], ci = x.Shape[1], d = x.Shape[2], h = x.Shape[3], wd = x.Shape[4];
        int co = w.Shape[0], kd = w.Shape[2], kh = w.Shape[3], kw = w.Shape[4];
        int od = (d + 2 * pd[0] - kd) / st[0] + 1, oh = (h + 2 * pd[1] - kh) / st[1] + 1, ow = (wd + 2 * pd[2] - kw) / st[2] + 1;
        return Build([b, co, od, oh, ow], ix =>
        {
            double acc = bias is null ? 0 : bias.Data[ix[1]];
            for (int c = 0; c < ci; c++)
            for (int i = 0; i < kd; i++)
            for (int j = 0; j < kh; j++)
            for (int l = 0; l < kw; l++)
            {
                int z = ix[2] * st[0] + i - pd[0], y = ix[3] * st[1] + j - pd[1], xx = ix[4] * st[2] + l - pd[2];
                if (z < 0 || z >= d || y < 0 || y >= h || xx < 0 || xx >= wd) continue;
                acc += w[ix[1], c, i, j, l] * x[ix[0], c, z, y, xx];
            }
            return acc;
        });
    }

    /// <summary>Every case.</summary>
    public static IReadOnlyList<OpCase> All { get; } = Catalogue();

    private static List<OpCase> Catalogue()
    {
        var l = new List<OpCase>();

        // ---------------------------------------------------------------- copies and views
        l.Add(C(OpKind.Copy, "copy_noncontiguous", g => [g.NonContiguous(3, 5, 7)], t => t[0].Contiguous(), a => a[0].Data, Check.Exact) with { GradInputs = [0] });
        l.Add(new OpCase(OpKind.Fill, "fill_const", g => [g.Randn(4, 9)], t =>
        {
            var z = Tensor.Empty(t[0].Shape, t[0].DType, t[0].Device);
            z.Fill(-1.25);
            return [z];
        }, a => [Enumerable.Repeat(-1.25, a[0].Data.Length).ToArray()], Check.Exact));
        l.Add(C(OpKind.Cast, "cast_to_f64", g => [g.Narrowed(5, 6)], t => t[0].To(DType.F64), a => a[0].Data, Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Reshape, "reshape_noncontiguous", g => [g.NonContiguous(4, 6)], t => t[0].Reshape(3, -1), a => a[0].Data, Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Permute, "permute_3d", g => [g.Randn(2, 3, 4)], t => t[0].Permute(2, 0, 1),
            a => Build([4, 2, 3], ix => a[0][ix[1], ix[2], ix[0]]), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Narrow, "narrow_axis1", g => [g.Randn(5, 7)], t => t[0].Narrow(1, 2, 3),
            a => Build([5, 3], ix => a[0][ix[0], ix[1] + 2]), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Expand, "expand_broadcast", g => [g.Randn(3, 1)], t => t[0].Expand(2, 3, 4),
            a => Build([2, 3, 4], ix => a[0][ix[1], 0]), Check.Exact) with { GradInputs = [0] });

        // ---------------------------------------------------------------- element-wise
        foreach (var (k, op) in new (OpKind, Func<double, double, double>)[]
                 { (OpKind.Add, (x, y) => x + y), (OpKind.Sub, (x, y) => x - y), (OpKind.Mul, (x, y) => x * y), (OpKind.Div, (x, y) => x / y) })
        {
            Func<Tensor, Tensor, Tensor> f = k switch { OpKind.Add => F.Add, OpKind.Sub => F.Sub, OpKind.Mul => F.Mul, _ => F.Div };
            l.Add(C(k, k.ToString().ToLowerInvariant() + "_broadcast", g => [g.NonContiguous(4, 5, 6), k == OpKind.Div ? g.AwayFromZero(0.5, 5, 1) : g.Randn(5, 1)],
                t => f(t[0], t[1]), a => Build([4, 5, 6], ix => op(a[0][ix[0], ix[1], ix[2]], a[1][ix[1], 0]))) with { GradInputs = [0, 1] });
            l.Add(C(k, k.ToString().ToLowerInvariant() + "_same_shape_large", g => [g.Randn(67, 130), k == OpKind.Div ? g.AwayFromZero(0.5, 67, 130) : g.Randn(67, 130)],
                t => f(t[0], t[1]), a => a[0].Data.Zip(a[1].Data, op).ToArray()) with { F64 = false, GradInputs = [0, 1] });
        }
        l.Add(C(OpKind.Scale, "scale_affine", g => [g.Narrowed(6, 7)], t => F.Scale(t[0], 1.5, -0.25), a => a[0].Data.Select(x => 1.5 * x - 0.25).ToArray()) with { GradInputs = [0] });
        foreach (var k in new[] { OpKind.Neg, OpKind.Exp, OpKind.Log, OpKind.Sqrt, OpKind.Relu, OpKind.Tanh, OpKind.Sigmoid, OpKind.Gelu, OpKind.GeluTanh, OpKind.Silu })
        {
            Func<Gen, Tensor> mk = k switch
            {
                OpKind.Log or OpKind.Sqrt => g => g.Uniform(0.2, 3, 7, 13),
                OpKind.Relu => g => g.AwayFromZero(0.05, 7, 13),
                _ => g => g.NonContiguous(7, 13),
            };
            l.Add(C(k, k.ToString().ToLowerInvariant(), g => [mk(g)], t => UnaryF(k, t[0]), a => a[0].Data.Select(x => Unary(k, x)).ToArray()) with { GradInputs = [0] });
            l.Add(C(k, k.ToString().ToLowerInvariant() + "_wide_range", g => [k is OpKind.Log or OpKind.Sqrt ? g.Uniform(1e-3, 50, 1000) : g.Uniform(-9, 9, 1000)],
                t => UnaryF(k, t[0]), a => a[0].Data.Select(x => Unary(k, x)).ToArray()) with { F64 = false, GradInputs = k == OpKind.Relu ? [] : [0] });
        }
        l.Add(C(OpKind.GatedSilu, "gated_silu", g => [g.Randn(5, 38)], t => F.GatedSilu(t[0]),
            a => Build([5, 19], ix => a[0][ix[0], ix[1] + 19] * a[0][ix[0], ix[1]] * Sig(a[0][ix[0], ix[1]]))) with { GradInputs = [0] });

        // ---------------------------------------------------------------- reductions
        l.Add(C(OpKind.Sum, "sum_axis1", g => [g.NonContiguous(3, 4, 5)], t => F.Sum(t[0], 1),
            a => Build([3, 5], ix => Enumerable.Range(0, 4).Sum(j => a[0][ix[0], j, ix[1]])), Check.Nmse) with { GradInputs = [0] });
        l.Add(C(OpKind.Sum, "sum_last_keepdim", g => [g.Randn(6, 33)], t => F.Sum(t[0], -1, keepDim: true),
            a => Build([6, 1], ix => Enumerable.Range(0, 33).Sum(j => a[0][ix[0], j])), Check.Nmse));
        l.Add(C(OpKind.Mean, "mean_axis0", g => [g.Randn(7, 3, 2)], t => F.Mean(t[0], 0),
            a => Build([3, 2], ix => Enumerable.Range(0, 7).Average(j => a[0][j, ix[0], ix[1]])), Check.Nmse) with { GradInputs = [0] });

        // ---------------------------------------------------------------- matrix products
        l.Add(C(OpKind.MatMul, "matmul_batched_broadcast_transposed", g => [g.Randn(2, 5, 7), g.NonContiguous(7, 3)], t => F.MatMul(t[0], t[1]),
            a => MatMulOracle(a[0], a[1]), Check.Nmse) with { GradInputs = [0, 1] });
        l.Add(C(OpKind.MatMul, "matmul_odd_large", g => [g.Randn(67, 129), g.Randn(129, 131)], t => F.MatMul(t[0], t[1]),
            a => MatMulOracle(a[0], a[1]), Check.Nmse) with { F64 = false });
        l.Add(C(OpKind.MatMul, "matmul_transposed_a_large", g => [g.NonContiguous(301, 77), g.Randn(77, 45)], t => F.MatMul(t[0], t[1]),
            a => MatMulOracle(a[0], a[1]), Check.Nmse) with { F64 = false });
        l.Add(C(OpKind.MatMul, "matmul_integer_exact", g => [g.Values(IntVals(1, 37 * 300), 37, 300), g.Values(IntVals(2, 300 * 41), 300, 41)],
            t => F.MatMul(t[0], t[1]), a => MatMulOracle(a[0], a[1]), Check.Exact) with { Half = false, Note = "integers in [-8, 8]: every partial sum is exact in f32" });
        l.Add(C(OpKind.MatMul, "matmul_batched_4d", g => [g.Randn(2, 3, 4, 6), g.Randn(2, 3, 6, 5)], t => F.MatMul(t[0], t[1]),
            a => MatMulOracle(a[0], a[1]), Check.Nmse) with { GradInputs = [0, 1] });
        l.Add(C(OpKind.Linear, "linear_bias", g => [g.NonContiguous(2, 3, 17), g.Randn(11, 17), g.Randn(11)], t => F.Linear(t[0], t[1], t[2]),
            a => Build([2, 3, 11], ix => a[2].Data[ix[2]] + Enumerable.Range(0, 17).Sum(p => a[0][ix[0], ix[1], p] * a[1][ix[2], p])), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Linear, "linear_decode_matvec", g => [g.Randn(1, 1, 300), g.Randn(257, 300)], t => F.Linear(t[0], t[1]),
            a => Build([1, 1, 257], ix => Enumerable.Range(0, 300).Sum(p => a[0][0, 0, p] * a[1][ix[2], p])), Check.Nmse) with { F64 = false });
        l.Add(C(OpKind.Linear, "linear_large_odd", g => [g.Randn(131, 200), g.Randn(97, 200), g.Randn(97)], t => F.Linear(t[0], t[1], t[2]),
            a => Build([131, 97], ix => a[2].Data[ix[1]] + Enumerable.Range(0, 200).Sum(p => a[0][ix[0], p] * a[1][ix[1], p])), Check.Nmse) with { F64 = false, GradInputs = [0, 1, 2] });

        // ---------------------------------------------------------------- softmax and norms
        l.Add(C(OpKind.Softmax, "softmax_plain", g => [g.NonContiguous(3, 4, 9)], t => F.Softmax(t[0]), a => SoftmaxOracle(a[0], null, false), Check.Nmse) with { GradInputs = [0] });
        l.Add(C(OpKind.Softmax, "softmax_mask_causal", g => [g.Randn(2, 3, 4, 9), g.Values([0, 0, -1e9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1e9, -1e9, 0, 0], 2, 9)],
            t => F.Softmax(t[0], t[1], causal: true), a => SoftmaxOracle(a[0], a[1], true), Check.Nmse) with { GradInputs = [0] });
        l.Add(C(OpKind.LayerNorm, "layernorm_affine", g => [g.Narrowed(6, 33), g.Randn(33), g.Randn(33)], t => F.LayerNorm(t[0], t[1], t[2], 1e-5),
            a => LayerNormOracle(a[0], a[1], a[2], 1e-5), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.LayerNorm, "layernorm_offset_wide", g => [g.Uniform(99, 101, 5, 1024), g.Randn(1024), g.Randn(1024)], t => F.LayerNorm(t[0], t[1], t[2], 1e-12),
            a => LayerNormOracle(a[0], a[1], a[2], 1e-12), Check.Nmse) with { F64 = false, Half = false, Note = "large mean: exercises the two-pass variance" });
        l.Add(C(OpKind.RmsNorm, "rmsnorm", g => [g.NonContiguous(5, 24), g.Randn(24)], t => F.RmsNorm(t[0], t[1], 1e-5),
            a => Build(a[0].Shape, ix =>
            {
                double ms = Enumerable.Range(0, 24).Average(j => a[0][ix[0], j] * a[0][ix[0], j]);
                return a[0][ix[0], ix[1]] / Math.Sqrt(ms + 1e-5) * a[1].Data[ix[1]];
            }), Check.Nmse) with { GradInputs = [0, 1] });

        // ---------------------------------------------------------------- embeddings, rope, attention
        l.Add(C(OpKind.Embedding, "embedding_repeated_ids", g => [g.Randn(10, 7), g.Long([3, 9, 3, 0, 1, 3], 2, 3)], t => F.Embedding(t[0], t[1]),
            a => Build([2, 3, 7], ix => a[0][(int)a[1][ix[0], ix[1]], ix[2]]), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Rope, "rope_longrope_tables", g =>
        {
            var x = g.NonContiguous(2, 3, 5, 8);
            var (cos, sin) = F.RopeTables(3, 5, 8, 10000, [1.1, 1.3, 2.0, 2.45], Med2E3.Native.Ops.Ops.Rope.LongRopeAttentionFactor(131072, 4096), g.DType, g.Device);
            return [x, cos, sin];
        }, t => F.Rope(t[0], t[1], t[2]), a => Build(a[0].Shape, ix =>
        {
            int j = ix[3], half = 4, tt = ix[2];
            double rot = j < half ? -a[0][ix[0], ix[1], tt, j + half] : a[0][ix[0], ix[1], tt, j - half];
            return a[0][ix[0], ix[1], tt, j] * a[1][tt, j] + rot * a[2][tt, j];
        }), Check.Nmse) with { GradInputs = [0] });
        l.Add(C(OpKind.Attention, "attention_bidirectional_mask", g => [g.Randn(2, 3, 5, 8), g.NonContiguous(2, 3, 7, 8).Contiguous(), g.Randn(2, 3, 7, 8),
                g.Values([0, 0, 0, -1e9, 0, 0, 0, 0, double.NegativeInfinity, 0, 0, 0, 0, 0], 2, 7)],
            t => F.Attention(t[0], t[1], t[2], t[3]), a => AttentionOracle(a[0], a[1], a[2], a[3], false, 1 / Math.Sqrt(8)), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Attention, "attention_causal_prefill", g => [g.Randn(1, 2, 6, 4), g.Randn(1, 2, 6, 4), g.Randn(1, 2, 6, 4)],
            t => F.Attention(t[0], t[1], t[2], causal: true), a => AttentionOracle(a[0], a[1], a[2], null, true, 0.5), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Attention, "attention_decode_kv_cache", g => [g.Randn(1, 2, 1, 8), g.Randn(1, 2, 9, 8), g.Randn(1, 2, 9, 8)],
            t => F.Attention(t[0], t[1], t[2], causal: true), a => AttentionOracle(a[0], a[1], a[2], null, true, 1 / Math.Sqrt(8)), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Attention, "attention_head96_strided_qkv", g =>
        {
            // q, k, v as views into one packed (B, T, 3, H, Dh) projection, as the Phi-3 block produces them.
            var qkv = g.Randn(1, 70, 3, 2, 96);
            var q = qkv.Select(2, 0).Transpose(1, 2);
            var k = qkv.Select(2, 1).Transpose(1, 2);
            var v = qkv.Select(2, 2).Transpose(1, 2);
            return [q, k, v];
        }, t => F.Attention(t[0], t[1], t[2], causal: true, scale: 17.0 / 12 / Math.Sqrt(96)),
            a => AttentionOracle(a[0], a[1], a[2], null, true, 17.0 / 12 / Math.Sqrt(96)), Check.Nmse) with { F64 = false, GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Attention, "attention_head64_long", g => [g.Randn(1, 2, 131, 64), g.Randn(1, 2, 131, 64), g.Randn(1, 2, 131, 64)],
            t => F.Attention(t[0], t[1], t[2]), a => AttentionOracle(a[0], a[1], a[2], null, false, 0.125), Check.Nmse) with { F64 = false, GradInputs = [0, 1, 2] });

        // ---------------------------------------------------------------- convolution and pooling
        l.Add(C(OpKind.Conv3d, "conv3d_stride_pad", g => [g.Randn(2, 3, 5, 6, 7), g.Randn(4, 3, 2, 3, 2), g.Randn(4)],
            t => F.Conv3d(t[0], t[1], t[2], [1, 2, 1], [1, 0, 1]), a => ConvOracle(a[0], a[1], a[2], [1, 2, 1], [1, 0, 1]), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.Conv3d, "conv3d_patch_kernel_eq_stride", g => [g.Randn(1, 1, 8, 16, 16), g.Randn(6, 1, 4, 8, 8), g.Randn(6)],
            t => F.Conv3d(t[0], t[1], t[2], [4, 8, 8], [0, 0, 0]), a => ConvOracle(a[0], a[1], a[2], [4, 8, 8], [0, 0, 0]), Check.Nmse) with { F64 = false });
        l.Add(C(OpKind.Patchify3d, "patchify3d_two_channels", g => [g.Randn(2, 2, 4, 6, 8)], t => F.Patchify3d(t[0], 2, 3, 4),
            a => Build([2, 2 * 2 * 2, 2 * 3 * 4 * 2], ix =>
            {
                int n = ix[1], k = ix[2];
                int gz = n / 4, gy = n / 2 % 2, gx = n % 2;
                int c = k % 2, px = k / 2 % 4, py = k / 8 % 3, pz = k / 24;
                return a[0][ix[0], c, gz * 2 + pz, gy * 3 + py, gx * 4 + px];
            }), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Conv2dPatch, "conv2d_patch", g => [g.Randn(2, 3, 8, 12), g.Randn(5, 3, 4, 4), g.Randn(5)], t => F.Conv2dPatch(t[0], t[1], t[2]),
            a => Build([2, 5, 2, 3], ix =>
            {
                double acc = a[2].Data[ix[1]];
                for (int c = 0; c < 3; c++)
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) acc += a[1][ix[1], c, i, j] * a[0][ix[0], c, ix[2] * 4 + i, ix[3] * 4 + j];
                return acc;
            }), Check.Nmse) with { GradInputs = [0, 1, 2] });
        l.Add(C(OpKind.AvgPool3d, "avgpool3d_2", g => [g.Randn(2, 3, 4, 6, 5)], t => F.AvgPool3d(t[0], [2, 2, 2], [2, 2, 2]),
            a => Build([2, 3, 2, 3, 2], ix =>
            {
                double s = 0;
                for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 2; k++) s += a[0][ix[0], ix[1], ix[2] * 2 + i, ix[3] * 2 + j, ix[4] * 2 + k];
                return s / 8;
            }), Check.Nmse) with { GradInputs = [0] });

        // Crop (z 1..4, y 0..6, x 2..5 → 3×6×3) resized to 5×4×7: up, down and up again; the input is a transposed view.
        int[] resizeCrop = [1, 4, 0, 6, 2, 5];
        l.Add(C(OpKind.ResizeTrilinear3d, "resize_trilinear3d_crop", g => [g.NonContiguous(2, 3, 5, 7, 6)],
            t => F.ResizeTrilinear3d(t[0], [5, 4, 7], resizeCrop), a => ResizeOracle(a[0], resizeCrop, [5, 4, 7]), Check.Nmse)
            with { Note = "NMSE: the oracle sums the 8 corners in another order than the nested reference blend" });
        l.Add(C(OpKind.ResizeTrilinear3d, "resize_trilinear3d_identity", g => [g.Randn(1, 2, 6, 5, 7)],
            t => F.ResizeTrilinear3d(t[0], [4, 5, 4], [1, 5, 0, 5, 2, 6]),
            a => Build([1, 2, 4, 5, 4], ix => a[0][ix[0], ix[1], ix[2] + 1, ix[3], ix[4] + 2]), Check.Exact));

        // ---------------------------------------------------------------- indexing
        l.Add(C(OpKind.Concat, "concat_axis1", g => [g.Randn(2, 3, 4), g.NonContiguous(2, 1, 4), g.Randn(2, 2, 4)], t => F.Concat(1, t[0], t[1], t[2]),
            a => Build([2, 6, 4], ix => ix[1] < 3 ? a[0][ix[0], ix[1], ix[2]] : ix[1] < 4 ? a[1][ix[0], 0, ix[2]] : a[2][ix[0], ix[1] - 4, ix[2]]), Check.Exact) with { GradInputs = [0, 1, 2] });
        l.Add(new OpCase(OpKind.Split, "split_three", g => [g.Randn(4, 9)], t => F.Split(t[0], [2, 3, 4], 1),
            a => [Build([4, 2], ix => a[0][ix[0], ix[1]]), Build([4, 3], ix => a[0][ix[0], ix[1] + 2]), Build([4, 4], ix => a[0][ix[0], ix[1] + 5])], Check.Exact) { GradInputs = [0] });
        l.Add(C(OpKind.RepeatInterleave, "repeat_interleave_axis1", g => [g.Randn(2, 3, 4)], t => F.RepeatInterleave(t[0], 3, 1),
            a => Build([2, 9, 4], ix => a[0][ix[0], ix[1] / 3, ix[2]]), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.IndexSelect, "index_select_repeated", g => [g.Randn(4, 6, 3), g.Long([5, 0, 2, 2], 4)], t => F.IndexSelect(t[0], 1, t[1]),
            a => Build([4, 4, 3], ix => a[0][ix[0], (int)a[1].Data[ix[1]], ix[2]]), Check.Exact) with { GradInputs = [0] });
        l.Add(C(OpKind.Gather, "gather_axis1", g => [g.Randn(3, 5), g.Long([0, 4, 4, 2, 1, 1, 3, 0, 2, 2, 2, 4], 3, 4)], t => F.Gather(t[0], 1, t[1]),
            a => Build([3, 4], ix => a[0][ix[0], (int)a[1][ix[0], ix[1]]]), Check.Exact) with { GradInputs = [0] });

        // ---------------------------------------------------------------- loss, sampling, optimiser
        l.Add(C(OpKind.CrossEntropy, "cross_entropy_ignore_index", g => [g.NonContiguous(6, 11), g.Long([3, -100, 10, 0, -100, 7], 6)],
            t => F.CrossEntropy(t[0], t[1]), a =>
            {
                double s = 0;
                int n = 0;
                for (int r = 0; r < 6; r++)
                {
                    int tg = (int)a[1].Data[r];
                    if (tg == -100) continue;
                    double m = Enumerable.Range(0, 11).Max(j => a[0][r, j]);
                    double lse = m + Math.Log(Enumerable.Range(0, 11).Sum(j => Math.Exp(a[0][r, j] - m)));
                    s += lse - a[0][r, tg];
                    n++;
                }
                return [s / n];
            }, Check.Nmse) with { GradInputs = [0] });
        l.Add(C(OpKind.Argmax, "argmax_rows", g => [g.NonContiguous(4, 17)], t => F.Argmax(t[0]),
            a => Build([4], ix => Enumerable.Range(0, 17).Aggregate(0, (best, j) => a[0][ix[0], j] > a[0][ix[0], best] ? j : best)), Check.Exact));
        l.Add(new OpCase(OpKind.TopK, "topk_4", g => [g.Randn(3, 10)], t =>
        {
            var (v, i) = F.TopK(t[0], 4);
            return [v, i];
        }, a =>
        {
            var vals = new List<double>();
            var idx = new List<double>();
            for (int r = 0; r < 3; r++)
            {
                var order = Enumerable.Range(0, 10).OrderByDescending(j => a[0][r, j]).ThenBy(j => j).Take(4).ToArray();
                vals.AddRange(order.Select(j => a[0][r, j]));
                idx.AddRange(order.Select(j => (double)j));
            }
            return [vals.ToArray(), idx.ToArray()];
        }, Check.Exact));
        l.Add(new OpCase(OpKind.SampleTopP, "sample_top_p_seeded", g => [g.Values([2.0, 1.5, 0.3, -1.0, 1.4, 0.0, 2.1, -0.5], 8)], t =>
        {
            var rng = new SeededRandom(1234);
            var ids = new long[64];
            ids[0] = F.SampleTopP(t[0], 0, 0, 1, rng);
            for (int s = 1; s < 64; s++) ids[s] = F.SampleTopP(t[0], 0.7, 5, 0.9, rng);
            return [Tensor.FromArray(ids, 64)];
        }, a => [SampleOracle(a[0].Data, 0.7, 5, 0.9, 1234, 64)], Check.Exact) with { Half = false });
        l.Add(new OpCase(OpKind.AdamW, "adamw_three_steps", g => [g.Randn(5, 3), g.Randn(5, 3), g.Randn(5, 3), g.Randn(5, 3)], t =>
        {
            var p = t[0].Clone();
            var grads = new[] { t[1], t[2], t[3] };
            p.RequiresGrad = true;
            using var opt = new AdamW([p], lr: 0.01, weightDecay: 0.1);
            foreach (var gr in grads)
            {
                p.ZeroGrad();
                using var s = F.Sum(F.Mul(p, gr).Reshape(-1), 0);
                s.Backward();
                opt.Step();
            }
            p.RequiresGrad = false;
            return [p];
        }, a => [AdamOracle(a[0].Data, [a[1].Data, a[2].Data, a[3].Data], 0.01, 0.9, 0.999, 1e-8, 0.1)], Check.Elementwise) with { Half = false });
        l.Add(new OpCase(OpKind.ClipGradNorm, "clip_grad_norm", g => [g.Randn(4, 3), g.Randn(7), g.Randn(4, 3), g.Randn(7)], t =>
        {
            var p1 = t[0].Clone();
            var p2 = t[1].Clone();
            p1.RequiresGrad = true;
            p2.RequiresGrad = true;
            using (var l1 = F.Sum(F.Mul(p1, t[2]).Reshape(-1), 0)) l1.Backward();
            using (var l2 = F.Sum(F.Mul(p2, t[3]).Reshape(-1), 0)) l2.Backward();
            double norm = F.ClipGradNorm([p1, p2], 0.5);
            return [Tensor.Scalar(norm, DType.F64), p1.Grad!.Alias(), p2.Grad!.Alias()];
        }, a =>
        {
            double n = Math.Sqrt(a[2].Data.Concat(a[3].Data).Sum(x => x * x));
            double c = Math.Min(1, 0.5 / (n + 1e-6));
            return [[n], a[2].Data.Select(x => x * c).ToArray(), a[3].Data.Select(x => x * c).ToArray()];
        }, Check.Nmse) with { Half = false });
        return l;
    }

    private static double[] IntVals(int seed, int n)
    {
        var r = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => (double)r.NextLong(-8, 9)).ToArray();
    }

    private static double[] SoftmaxOracle(Arr x, Arr? mask, bool causal)
    {
        int tk = x.Shape[^1], tq = x.Shape.Length >= 2 ? x.Shape[^2] : 1;
        int rows = x.Data.Length / tk, perBatch = rows / x.Shape[0];
        var y = new double[x.Data.Length];
        for (int r = 0; r < rows; r++)
        {
            int i = r % tq, b = r / perBatch;
            var v = new double[tk];
            for (int j = 0; j < tk; j++)
                v[j] = causal && j > i + (tk - tq) ? double.NegativeInfinity : x.Data[r * tk + j] + (mask is null ? 0 : mask[b, j]);
            double m = v.Max();
            double z = v.Sum(t => Math.Exp(t - m));
            for (int j = 0; j < tk; j++) y[r * tk + j] = Math.Exp(v[j] - m) / z;
        }
        return y;
    }

    private static double[] LayerNormOracle(Arr x, Arr w, Arr b, double eps)
    {
        int c = x.Shape[^1], n = x.Data.Length / c;
        var y = new double[x.Data.Length];
        for (int r = 0; r < n; r++)
        {
            var row = x.Data.Skip(r * c).Take(c).ToArray();
            double mu = row.Average();
            double var = row.Average(v => (v - mu) * (v - mu));
            for (int i = 0; i < c; i++) y[r * c + i] = (row[i] - mu) / Math.Sqrt(var + eps) * w.Data[i] + b.Data[i];
        }
        return y;
    }

    private static double[] AdamOracle(double[] p0, double[][] grads, double lr, double b1, double b2, double eps, double wd)
    {
        var p = (double[])p0.Clone();
        var m = new double[p.Length];
        var v = new double[p.Length];
        for (int t = 1; t <= grads.Length; t++)
        {
            for (int i = 0; i < p.Length; i++)
            {
                double g = grads[t - 1][i];
                p[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mh = m[i] / (1 - Math.Pow(b1, t)), vh = v[i] / (1 - Math.Pow(b2, t));
                p[i] -= lr * mh / (Math.Sqrt(vh) + eps);
            }
        }
        return p;
    }

    // transformers' warpers in plain double probabilities: temperature, top-k (boundary ties stay), top-p (a token
    // stays while the probability mass before it is < topP), then an inverse-CDF draw over the kept tokens in index
    // order, one NextDouble per sampled token. Token 0 of the result is the greedy argmax.
    private static double[] SampleOracle(double[] logits, double temp, int topK, double topP, long seed, int count)
    {
        var rng = new SeededRandom(seed);
        var res = new double[count];
        double kth = logits.OrderByDescending(x => x).ElementAt(topK - 1);
        var cand = Enumerable.Range(0, logits.Length).Where(j => logits[j] >= kth).ToArray();
        double z = cand.Sum(j => Math.Exp(logits[j] / temp));
        var prob = cand.ToDictionary(j => j, j => Math.Exp(logits[j] / temp) / z);
        var kept = new List<int>();
        double before = 0;
        foreach (int j in cand.OrderByDescending(j => logits[j]).ThenBy(j => j))
        {
            if (kept.Count > 0 && before >= topP) break;
            kept.Add(j);
            before += prob[j];
        }
        kept.Sort();
        double mass = kept.Sum(j => prob[j]);
        for (int s = 1; s < count; s++)
        {
            double u = rng.NextDouble() * mass, acc = 0;
            int pick = kept[^1];
            foreach (int j in kept)
            {
                acc += prob[j];
                if (u < acc) { pick = j; break; }
            }
            res[s] = pick;
        }
        res[0] = Enumerable.Range(0, logits.Length).Aggregate(0, (b, j) => logits[j] > logits[b] ? j : b);
        return res;
    }
}
