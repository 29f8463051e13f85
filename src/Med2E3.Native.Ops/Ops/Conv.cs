using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>
/// Convolutions: general 3D convolution (stride, zero padding, dilation 1); the 3D ViT "perceptron" patchify
/// (a rearrange, spec §2.2); the SigLIP 2D patch convolution (kernel = stride), built as patchify + GEMM.
/// </summary>
public static unsafe class Conv
{
    /// <summary>Geometry of a 3D convolution.</summary>
    public readonly record struct Geometry(int B, int Ci, int D, int H, int W, int Co, int Kd, int Kh, int Kw,
        int Sd, int Sh, int Sw, int Pd, int Ph, int Pw, int Do, int Ho, int Wo)
    {
        /// <summary>Geometry from tensors and parameters.</summary>
        public static Geometry Of(Tensor x, Tensor w, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding)
        {
            int d = x.Dim(2), h = x.Dim(3), wd = x.Dim(4), kd = w.Dim(2), kh = w.Dim(3), kw = w.Dim(4);
            return new Geometry(x.Dim(0), x.Dim(1), d, h, wd, w.Dim(0), kd, kh, kw, stride[0], stride[1], stride[2],
                padding[0], padding[1], padding[2],
                (d + 2 * padding[0] - kd) / stride[0] + 1, (h + 2 * padding[1] - kh) / stride[1] + 1, (wd + 2 * padding[2] - kw) / stride[2] + 1);
        }

        /// <summary>Ci·Kd·Kh·Kw.</summary>
        public int K => Ci * Kd * Kh * Kw;

        /// <summary>Do·Ho·Wo.</summary>
        public int P => Do * Ho * Wo;
    }

    /// <summary>Reference forward: y[b,o,z,y,x] = bias[o] + Σ w[o,c,i,j,l]·x[b,c,z·s+i−p, …] (zero outside).</summary>
    public static void Reference<T>(T* x, T* w, T* bias, Geometry g, T* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For((long)g.B * g.Co, 1, (s, e) =>
        {
            for (long bo = s; bo < e; bo++)
            {
                int b = (int)(bo / g.Co), o = (int)(bo % g.Co);
                for (int oz = 0; oz < g.Do; oz++)
                for (int oy = 0; oy < g.Ho; oy++)
                for (int ox = 0; ox < g.Wo; ox++)
                {
                    double acc = bias != null ? double.CreateTruncating(bias[o]) : 0;
                    for (int c = 0; c < g.Ci; c++)
                    for (int i = 0; i < g.Kd; i++)
                    {
                        int iz = oz * g.Sd + i - g.Pd;
                        if (iz < 0 || iz >= g.D) continue;
                        for (int j = 0; j < g.Kh; j++)
                        {
                            int iy = oy * g.Sh + j - g.Ph;
                            if (iy < 0 || iy >= g.H) continue;
                            for (int l = 0; l < g.Kw; l++)
                            {
                                int ix = ox * g.Sw + l - g.Pw;
                                if (ix < 0 || ix >= g.W) continue;
                                acc += double.CreateTruncating(w[((((long)o * g.Ci + c) * g.Kd + i) * g.Kh + j) * g.Kw + l])
                                     * double.CreateTruncating(x[((((long)b * g.Ci + c) * g.D + iz) * g.H + iy) * g.W + ix]);
                            }
                        }
                    }
                    y[((((long)b * g.Co + o) * g.Do + oz) * g.Ho + oy) * g.Wo + ox] = T.CreateTruncating(acc);
                }
            }
        });
    }

    /// <summary>im2col for one batch item: col[(c,i,j,l), (z,y,x)] (K, P), zero where the window leaves the input.</summary>
    public static void Im2Col(float* x, Geometry g, float* col)
    {
        Par.For(g.K, 4, (s, e) =>
        {
            for (long kk = s; kk < e; kk++)
            {
                int l = (int)(kk % g.Kw), j = (int)(kk / g.Kw % g.Kh), i = (int)(kk / g.Kw / g.Kh % g.Kd), c = (int)(kk / g.Kw / g.Kh / g.Kd);
                float* dst = col + kk * g.P;
                for (int oz = 0; oz < g.Do; oz++)
                {
                    int iz = oz * g.Sd + i - g.Pd;
                    for (int oy = 0; oy < g.Ho; oy++)
                    {
                        int iy = oy * g.Sh + j - g.Ph;
                        float* drow = dst + ((long)oz * g.Ho + oy) * g.Wo;
                        if (iz < 0 || iz >= g.D || iy < 0 || iy >= g.H)
                        {
                            new Span<float>(drow, g.Wo).Clear();
                            continue;
                        }
                        float* srow = x + (((long)c * g.D + iz) * g.H + iy) * g.W;
                        for (int ox = 0; ox < g.Wo; ox++)
                        {
                            int ix = ox * g.Sw + l - g.Pw;
                            drow[ox] = ix >= 0 && ix < g.W ? srow[ix] : 0f;
                        }
                    }
                }
            }
        });
    }

    /// <summary>Fast f32 forward: im2col + GEMM (Co × K)·(K × P) per batch item, then the bias.</summary>
    public static void Fast(float* x, float* w, float* bias, Geometry g, float* y)
    {
        float* col = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((long)g.K * g.P * 4 + 64), 64);
        try
        {
            for (int b = 0; b < g.B; b++)
            {
                Im2Col(x + (long)b * g.Ci * g.D * g.H * g.W, g, col);
                float* yb = y + (long)b * g.Co * g.P;
                Gemm.Sgemm(false, false, g.Co, g.P, g.K, 1f, w, g.K, col, g.P, 0f, yb, g.P, null);
                if (bias != null)
                    for (int o = 0; o < g.Co; o++)
                        System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(yb + (long)o * g.P, g.P), bias[o], new Span<float>(yb + (long)o * g.P, g.P));
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(col);
        }
    }

    /// <summary>Reference backward: dx scatters w·dy, dw gathers x·dy, db sums dy (double accumulation per output).</summary>
    public static void BackwardReference<T>(T* x, T* w, T* dy, Geometry g, T* dx, T* dw, T* db) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (db != null)
            for (int o = 0; o < g.Co; o++)
            {
                double acc = 0;
                for (int b = 0; b < g.B; b++)
                    for (int p = 0; p < g.P; p++) acc += double.CreateTruncating(dy[((long)b * g.Co + o) * g.P + p]);
                db[o] = T.CreateTruncating(acc);
            }
        if (dw != null)
        {
            Par.For((long)g.Co * g.K, 16, (s, e) =>
            {
                for (long ok = s; ok < e; ok++)
                {
                    int o = (int)(ok / g.K), kk = (int)(ok % g.K);
                    int l = kk % g.Kw, j = kk / g.Kw % g.Kh, i = kk / g.Kw / g.Kh % g.Kd, c = kk / g.Kw / g.Kh / g.Kd;
                    double acc = 0;
                    for (int b = 0; b < g.B; b++)
                        for (int oz = 0; oz < g.Do; oz++)
                        {
                            int iz = oz * g.Sd + i - g.Pd;
                            if (iz < 0 || iz >= g.D) continue;
                            for (int oy = 0; oy < g.Ho; oy++)
                            {
                                int iy = oy * g.Sh + j - g.Ph;
                                if (iy < 0 || iy >= g.H) continue;
                                for (int ox = 0; ox < g.Wo; ox++)
                                {
                                    int ix = ox * g.Sw + l - g.Pw;
                                    if (ix < 0 || ix >= g.W) continue;
                                    acc += double.CreateTruncating(dy[((((long)b * g.Co + o) * g.Do + oz) * g.Ho + oy) * g.Wo + ox])
                                         * double.CreateTruncating(x[((((long)b * g.Ci + c) * g.D + iz) * g.H + iy) * g.W + ix]);
                                }
                            }
                        }
                    dw[ok] = T.CreateTruncating(acc);
                }
            });
        }
        if (dx != null)
        {
            Par.For((long)g.B * g.Ci, 1, (s, e) =>
            {
                for (long bc = s; bc < e; bc++)
                {
                    int b = (int)(bc / g.Ci), c = (int)(bc % g.Ci);
                    for (int iz = 0; iz < g.D; iz++)
                    for (int iy = 0; iy < g.H; iy++)
                    for (int ix = 0; ix < g.W; ix++)
                    {
                        double acc = 0;
                        for (int i = 0; i < g.Kd; i++)
                        {
                            int tz = iz + g.Pd - i;
                            if (tz < 0 || tz % g.Sd != 0 || tz / g.Sd >= g.Do) continue;
                            for (int j = 0; j < g.Kh; j++)
                            {
                                int ty = iy + g.Ph - j;
                                if (ty < 0 || ty % g.Sh != 0 || ty / g.Sh >= g.Ho) continue;
                                for (int l = 0; l < g.Kw; l++)
                                {
                                    int tx = ix + g.Pw - l;
                                    if (tx < 0 || tx % g.Sw != 0 || tx / g.Sw >= g.Wo) continue;
                                    for (int o = 0; o < g.Co; o++)
                                        acc += double.CreateTruncating(w[((((long)o * g.Ci + c) * g.Kd + i) * g.Kh + j) * g.Kw + l])
                                             * double.CreateTruncating(dy[((((long)b * g.Co + o) * g.Do + tz / g.Sd) * g.Ho + ty / g.Sh) * g.Wo + tx / g.Sw]);
                                }
                            }
                        }
                        dx[((((long)b * g.Ci + c) * g.D + iz) * g.H + iy) * g.W + ix] = T.CreateTruncating(acc);
                    }
                }
            });
        }
    }

    internal static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias, int[] stride, int[] padding)
    {
        Dispatch.Float("Conv3d", x);
        Dispatch.Same("Conv3d", x, w);
        Dispatch.Same("Conv3d", x, bias);
        if (x.Rank != 5 || w.Rank != 5 || x.Dim(1) != w.Dim(1))
            throw new ShapeMismatchException("Conv3d", x.ShapeSpan, w.ShapeSpan, 1, "x (B, Ci, D, Hi, W), w (Co, Ci, Kd, Kh, Kw)");
        if (stride.Length != 3 || padding.Length != 3 || stride.Any(s => s < 1) || padding.Any(p => p < 0))
            throw new ArgumentException("Conv.cs: Conv3d needs 3 strides ≥ 1 and 3 paddings ≥ 0");
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != w.Dim(0)))
            throw new ShapeMismatchException("Conv3d", bias.ShapeSpan, w.ShapeSpan, 0, "bias must be (Co)");
        var g = Geometry.Of(x, w, stride, padding);
        if (g.Do <= 0 || g.Ho <= 0 || g.Wo <= 0) throw new ShapeMismatchException("Conv3d", x.ShapeSpan, w.ShapeSpan, -1, "kernel larger than padded input");
        var be = Dispatch.Backend(OpKind.Conv3d, x);
        using var xc = Dispatch.C(x);
        using var wc = Dispatch.C(w);
        using var bc = bias is null ? null : Dispatch.C(bias);
        var y = Tensor.Empty([g.B, g.Co, g.Do, g.Ho, g.Wo], x.DType, x.Device);
        be.Conv3d(xc, wc, bc, stride, padding, y);
        return Autograd.Record(y, OpKind.Conv3d, "Conv3d", [x, w, bias], [xc, wc], (node, gr) =>
        {
            using var gc = Dispatch.C(gr);
            var X = node.Saved[0]!;
            var W = node.Saved[1]!;
            var dx = node.NeedsInputGrad(0) ? Tensor.Empty(X.Shape, X.DType, X.Device) : null;
            var dw = node.NeedsInputGrad(1) ? Tensor.Empty(W.Shape, W.DType, W.Device) : null;
            var db = node.NeedsInputGrad(2) ? Tensor.Empty([W.Dim(0)], W.DType, W.Device) : null;
            Backends.For(gr.Device).Conv3dBackward(X, W, gc, stride, padding, dx, dw, db);
            return [dx, dw, db];
        });
    }

    /// <summary>
    /// 3D perceptron patchify (MONAI rearrange "b c (h p1) (w p2) (d p3) -> b (h w d) (p1 p2 p3 c)"):
    /// x (B, C, D, Hi, W) → (B, gz·gy·gx, pz·py·px·C), token order (z, y, x), C fastest in a patch vector.
    /// </summary>
    internal static Tensor Patchify3d(Tensor x, int pz, int py, int px)
    {
        if (x.Rank != 5) throw new ShapeMismatchException("Patchify3d", x.ShapeSpan, "x must be (B, C, D, Hi, W)");
        int b = x.Dim(0), c = x.Dim(1), d = x.Dim(2), h = x.Dim(3), w = x.Dim(4);
        if (d % pz != 0 || h % py != 0 || w % px != 0)
            throw new ShapeMismatchException("Patchify3d", x.ShapeSpan, [pz, py, px], -1, "volume not divisible by the patch");
        int gz = d / pz, gy = h / py, gx = w / px;
        using var v = x.Reshape(b, c, gz, pz, gy, py, gx, px);       // (B, C, gz, pz, gy, py, gx, px)
        using var p = v.Permute(0, 2, 4, 6, 3, 5, 7, 1);              // (B, gz, gy, gx, pz, py, px, C)
        using var pc = p.Contiguous();
        return pc.Reshape(b, gz * gy * gx, pz * py * px * c);       // (B, T, P³·C)
    }

    /// <summary>
    /// 2D patch convolution (Conv2d with kernel = stride = P, no padding): x (B, C, Hi, W), w (Co, C, P, P), bias (Co)
    /// → (B, Co, Hi/P, W/P), returned as a permuted view of the token-major GEMM result (B, T, Co).
    /// </summary>
    internal static Tensor Conv2dPatch(Tensor x, Tensor w, Tensor? bias)
    {
        if (x.Rank != 4 || w.Rank != 4 || w.Dim(1) != x.Dim(1) || w.Dim(2) != w.Dim(3))
            throw new ShapeMismatchException("Conv2dPatch", x.ShapeSpan, w.ShapeSpan, -1, "x (B, C, Hi, W), w (Co, C, P, P)");
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), co = w.Dim(0), p = w.Dim(2);
        if (h % p != 0 || wd % p != 0) throw new ShapeMismatchException("Conv2dPatch", x.ShapeSpan, w.ShapeSpan, 2, "image not divisible by the patch");
        int gh = h / p, gw = wd / p;
        using var v = x.Reshape(b, c, gh, p, gw, p);                  // (B, C, gh, P, gw, P)
        using var perm = v.Permute(0, 2, 4, 1, 3, 5);                 // (B, gh, gw, C, P, P)
        using var pc = perm.Contiguous();
        using var patches = pc.Reshape(b, gh * gw, c * p * p);        // (B, T, C·P·P)
        using var w2 = w.Reshape(co, c * p * p);                      // (Co, C·P·P)
        using var tokens = F.Linear(patches, w2, bias);               // (B, T, Co)
        using var grid = tokens.Reshape(b, gh, gw, co);               // (B, gh, gw, Co)
        return grid.Permute(0, 3, 1, 2);                              // (B, Co, gh, gw)
    }
}
