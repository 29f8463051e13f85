using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Kernels the backend does not launch by default: the teaching LayerNorm, the patch gathers and the RoPE table
/// builder, each against its CPU definition (the attention variants: <see cref="AttentionVariantTests"/>).
/// </summary>
public class KernelVariantTests(TestDevice fixture)
{
    private CudaBackend Cuda => Backend(fixture);

    [CudaTheory]
    [InlineData(7, 33)]
    [InlineData(300, 768)]
    public void LayerNormTeachingVariantMatchesTheReference(int n, int c)
    {
        using var x = Tensor.Rand(80, [n, c], -1, 1);
        using var w = Tensor.Rand(81, [c], -1, 1);
        using var b = Tensor.Rand(82, [c], -1, 1);
        using var y = Tensor.Empty([n, c]);
        using var mean = Tensor.Empty([n]);
        using var rstd = Tensor.Empty([n]);
        using (CpuBackend.ReferenceMode()) CpuBackend.Instance.LayerNorm(x, w, b, 1e-5, y, mean, rstd);

        using var dx = x.To(Cuda.TensorDevice);
        using var dw = w.To(Cuda.TensorDevice);
        using var db = b.To(Cuda.TensorDevice);
        using var dy = Tensor.Empty([n, c], DType.F32, Cuda.TensorDevice);
        using var dmean = Tensor.Empty([n], DType.F32, Cuda.TensorDevice);
        using var drstd = Tensor.Empty([n], DType.F32, Cuda.TensorDevice);
        var p = new KernelParams.LayerNormParams
        {
            X = CudaBackend.Ptr(dx), W = CudaBackend.Ptr(dw), B = CudaBackend.Ptr(db), Y = CudaBackend.Ptr(dy),
            Mean = CudaBackend.Ptr(dmean), Rstd = CudaBackend.Ptr(drstd), Rows = n, Cols = c, Eps = 1e-5f,
        };
        fixture.Device.GetKernel("layernorm.cu", "layernorm_fwd_f32_v1")
            .Launch(fixture.Stream, Dim3.CeilDiv(n, 256), 256, 0, p);
        Compare("layernorm_fwd_f32_v1 y", dy.ToDoubleArray(), y.ToDoubleArray(), Check.Nmse);
        Compare("layernorm_fwd_f32_v1 mean", dmean.ToDoubleArray(), mean.ToDoubleArray(), Check.Nmse);
        Compare("layernorm_fwd_f32_v1 rstd", drstd.ToDoubleArray(), rstd.ToDoubleArray(), Check.Nmse);
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void PerceptronPatchGatherMatchesPatchify3d(DType dtype)
    {
        // The M3D ViT layout (C fastest in a patch vector) at the tiny model's geometry, with 2 channels so the
        // channel position is tested too.
        const int b = 2, c = 2, d = 8, h = 32, w = 32, pz = 2, py = 8, px = 8;
        using var master = Tensor.Rand(83, [b, c, d, h, w], -1, 1, DType.F64);
        using var x = master.To(dtype);
        using var want = F.Patchify3d(x, pz, py, px);
        int tokens = d / pz * (h / py) * (w / px), k = c * pz * py * px;
        RunPatch(dtype, x, want, [b, tokens, k], new KernelParams.PatchParams
        {
            Batch = b, Channels = c, D = d, H = h, W = w, Pz = pz, Py = py, Px = px, CFastest = 1,
        });
    }

    [CudaFact]
    public void ConvPatchGatherMatchesTheConv2dWeightOrder()
    {
        // SigLIP: (B, C, Hi, W) patches flattened as (C, ky, kx), the order of a Conv2d weight (Co, C, P, P).
        const int b = 3, c = 3, h = 32, w = 48, p = 16;
        using var x = Tensor.Rand(84, [b, c, h, w], -1, 1);
        using var v = x.Reshape(b, c, h / p, p, w / p, p);
        using var perm = v.Permute(0, 2, 4, 1, 3, 5);
        using var pc = perm.Contiguous();
        using var want = pc.Reshape(b, h / p * (w / p), c * p * p);
        RunPatch(DType.F32, x, want, [b, h / p * (w / p), c * p * p], new KernelParams.PatchParams
        {
            Batch = b, Channels = c, D = 1, H = h, W = w, Pz = 1, Py = p, Px = p, CFastest = 0,
        });
    }

    private void RunPatch(DType dtype, Tensor x, Tensor want, int[] shape, KernelParams.PatchParams p)
    {
        string suffix = dtype == DType.F32 ? "f32" : "bf16";
        using var dx = x.To(Cuda.TensorDevice);
        using var got = Tensor.Empty(shape, dtype, Cuda.TensorDevice);
        p.Src = CudaBackend.Ptr(dx);
        p.Dst = CudaBackend.Ptr(got);
        fixture.Device.GetKernel("patch_embed.cu", $"patch_embed_fwd_{suffix}").Launch(fixture.Stream,
            Dim3.CeilDiv(got.Numel, 256), 256, 0, p);
        Compare("patch_embed_fwd", got.ToDoubleArray(), want.ToDoubleArray(), Check.Exact);

        // The backward is the inverse gather: it must give x back exactly.
        using var back = Tensor.Empty(x.Shape, dtype, Cuda.TensorDevice);
        p.Src = CudaBackend.Ptr(got);
        p.Dst = CudaBackend.Ptr(back);
        fixture.Device.GetKernel("patch_embed.cu", $"patch_embed_bwd_{suffix}").Launch(fixture.Stream,
            Dim3.CeilDiv(back.Numel, 256), 256, 0, p);
        Compare("patch_embed_bwd", back.ToDoubleArray(), x.ToDoubleArray(), Check.Exact);
    }

    [CudaTheory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void RopeTableKernelMatchesRopeTables(DType dtype)
    {
        const int start = 100, length = 650, dh = 96;
        double[] factors = Enumerable.Range(0, dh / 2).Select(i => 1.0 + 0.04 * i).ToArray();
        double attention = Med2E3.Native.Ops.Ops.Rope.LongRopeAttentionFactor(131072, 4096);
        var (cos, sin) = Med2E3.Native.Ops.Ops.Rope.Tables(start, length, dh, 10000, factors, attention);
        using (cos)
        using (sin)
        {
            // inv_freq exactly as Rope.Tables computes it in f32.
            var inv = new float[dh / 2];
            for (int i = 0; i < inv.Length; i++)
                inv[i] = 1f / ((float)factors[i] * MathF.Pow(10000f, (float)(2 * i) / dh));
            using var hinv = Tensor.FromArray(inv, inv.Length);
            using var dinv = hinv.To(Cuda.TensorDevice);
            using var dcos = Tensor.Empty([length, dh], dtype, Cuda.TensorDevice);
            using var dsin = Tensor.Empty([length, dh], dtype, Cuda.TensorDevice);
            var p = new KernelParams.RopeTableParams
            {
                InvFreq = CudaBackend.Ptr(dinv), Cos = CudaBackend.Ptr(dcos), Sin = CudaBackend.Ptr(dsin),
                Rows = length, HeadDim = dh, Pos0 = start, AttnScale = (float)attention,
            };
            string kernel = dtype == DType.F32 ? "rope_table_f32" : "rope_table_bf16";
            fixture.Device.GetKernel("rope.cu", kernel)
                .Launch(fixture.Stream, Dim3.CeilDiv(length * dh, 256), 256, 0, p);
            if (dtype == DType.F32)
            {
                Compare("rope_table_f32 cos", dcos.ToDoubleArray(), cos.ToDoubleArray(), Check.Elementwise);
                Compare("rope_table_f32 sin", dsin.ToDoubleArray(), sin.ToDoubleArray(), Check.Elementwise);
                return;
            }

            // bf16: the f32 value rounded once, so within half a bf16 ulp (2^-8 relative) of the f32 table, plus
            // the f32 elementwise bound for the difference between the device's cosf/sinf and the CPU's.
            foreach (var (name, got, want) in new[] { ("cos", dcos, cos), ("sin", dsin, sin) })
            {
                double[] g = got.ToDoubleArray(), w = want.ToDoubleArray();
                for (int i = 0; i < g.Length; i++)
                    Assert.True(Math.Abs(g[i] - w[i]) <= 1e-5 + Math.Abs(w[i]) * (1.0 / 256 + 1e-4),
                        $"rope_table_bf16 {name}[{i}]: {g[i]} vs {w[i]}");
            }
        }
    }
}
