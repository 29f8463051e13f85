using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Kernels;

/// <summary>
/// The op-library kernels at the shapes of PERFORMANCE.md, through the CUDA backend: LayerNorm 8192×1024, attention
/// 1×12×2049×64, 32×16×256×64, 1×32×600×96 (causal) and a decode step over 600 cached tokens, the 3D patch embedding
/// of a 32×256×256 volume (gather + one GEMM), and conv3d 3×3×3 3 → 64 on 64³. Each row is first checked against the
/// CPU backend (at a reduced size where the CPU reference would take minutes), then timed by <see cref="Bench.Time"/>.
/// The floor column quotes the PyTorch anchor measured on an H100 (PERFORMANCE.md); compare only on that card.
/// </summary>
public static class OpSuites
{
    public static void Run(Bench bench, string suite)
    {
        bool all = suite is "all" or "ops";
        var backend = CudaBackend.Register(bench.Device);
        using var scope = TensorScope.Begin();
        if (all || suite == "layernorm")
        {
            LayerNorm(bench, backend, DType.BF16);
            LayerNorm(bench, backend, DType.F32);
        }

        if (all || suite == "attention")
        {
            Attention(bench, backend, 1, 12, 2049, 2049, 64, false, "SDPA 79 µs (H100)");
            Attention(bench, backend, 32, 16, 256, 256, 64, false, "SDPA 59 µs (H100)");
            Attention(bench, backend, 1, 32, 600, 600, 96, true, "SDPA 55 µs (H100)");
            Attention(bench, backend, 1, 32, 1, 600, 96, true, "KV read at DRAM speed");

            // The tensor-core variants at the three prefill shapes (not the default: never run on a device before);
            // every variant at every shape, with the SDPA ratios: med2e3-bench attention-kernels.
            backend.TensorCoreAttention = true;
            Attention(bench, backend, 1, 12, 2049, 2049, 64, false, "SDPA 79 µs (H100)");
            Attention(bench, backend, 32, 16, 256, 256, 64, false, "SDPA 59 µs (H100)");
            Attention(bench, backend, 1, 32, 600, 600, 96, true, "SDPA 55 µs (H100)");
            backend.TensorCoreAttention = false;
        }

        if (all || suite == "patch_embed") PatchEmbed(bench, backend);
        if (all || suite == "conv3d") Conv3d(bench, backend);
        if (all || suite == "resize") Resize(bench, backend);
    }

    private static Tensor Rand(long seed, int[] shape, DType dtype, Device device)
    {
        using var t = Tensor.Rand(seed, shape, -1, 1, DType.F32);
        using var c = t.To(dtype);
        return c.To(device);
    }

    private static void LayerNorm(Bench bench, CudaBackend be, DType dt)
    {
        const int n = 8192, c = 1024;
        var d = be.TensorDevice;
        string check = Agree(dt, dev =>
        {
            using var x = Rand(1, [n, c], dt, dev);
            using var w = Rand(2, [c], dt, dev);
            using var b = Rand(3, [c], dt, dev);
            return F.LayerNorm(x, w, b, 1e-5);
        }, d);
        using var x = Rand(1, [n, c], dt, d);
        using var w = Rand(2, [c], dt, d);
        using var b = Rand(3, [c], dt, d);
        using var y = Tensor.Empty([n, c], dt, d);
        using var mean = Tensor.Empty([n], DType.F32, d);
        using var rstd = Tensor.Empty([n], DType.F32, d);
        var t = bench.Time(_ => be.LayerNorm(x, w, b, 1e-5, y, mean, rstd));
        long bytes = 2L * n * c * dt.SizeOf() + 8L * n;
        bench.AddMemoryRow("layernorm", $"layernorm_fwd_{dt.Name()}", $"{n}x{c} {dt.Name()}", bytes, t,
            dt == DType.BF16 ? "≥ 2 TB/s; PyTorch 45 µs (H100)" : "memory-bound", check);
    }

    private static void Attention(Bench bench, CudaBackend be, int b, int h, int tq, int tk, int dh, bool causal,
        string floor)
    {
        var d = be.TensorDevice;
        // The CPU check runs the same code path at a length the reference finishes quickly.
        int cq = Math.Min(tq, 130), ck = tq == 1 ? tk : cq;
        string check = Agree(DType.BF16, dev =>
        {
            using var q = Rand(4, [b, h, cq, dh], DType.BF16, dev);
            using var k = Rand(5, [b, h, ck, dh], DType.BF16, dev);
            using var v = Rand(6, [b, h, ck, dh], DType.BF16, dev);
            return F.Attention(q, k, v, null, causal);
        }, d);
        using var q = Rand(4, [b, h, tq, dh], DType.BF16, d);
        using var k = Rand(5, [b, h, tk, dh], DType.BF16, d);
        using var v = Rand(6, [b, h, tk, dh], DType.BF16, d);
        using var o = Tensor.Empty([b, h, tq, dh], DType.BF16, d);
        using var lse = Tensor.Empty([b, h, tq], DType.F32, d);
        double scale = 1 / Math.Sqrt(dh);
        var t = bench.Time(_ => be.Attention(q, k, v, null, causal, scale, o, lse));
        string shape = $"{b}x{h}x{tq}x{tk}x{dh}{(causal ? " causal" : "")}";
        string kernel = be.AttentionKernelFor(q, k, v, o, scale);
        if (tq == 1)
        {
            bench.AddMemoryRow("attention", kernel, shape, 2L * b * h * tk * dh * 2, t, floor, check);
        }
        else
        {
            // Causal prefill skips the masked half of the score matrix.
            double flops = 4.0 * b * h * tq * tk * dh * (causal ? 0.5 : 1);
            bench.AddComputeRow("attention", kernel, shape, flops, t, floor, check);
        }
    }

    private static void PatchEmbed(Bench bench, CudaBackend be)
    {
        var d = be.TensorDevice;
        string check = Agree(DType.BF16, dev =>
        {
            using var vol = Rand(7, [1, 1, 8, 64, 64], DType.BF16, dev);
            using var w = Rand(8, [768, 1024], DType.BF16, dev);
            using var bias = Rand(9, [768], DType.BF16, dev);
            using var p = F.Patchify3d(vol, 4, 16, 16);
            return F.Linear(p, w, bias);
        }, d);
        using var vol = Rand(7, [1, 1, 32, 256, 256], DType.BF16, d);
        using var w = Rand(8, [768, 1024], DType.BF16, d);
        using var bias = Rand(9, [768], DType.BF16, d);
        var t = bench.Time(_ =>
        {
            using var p = F.Patchify3d(vol, 4, 16, 16);  // (1, 2048, 1024)
            using var y = F.Linear(p, w, bias);          // (1, 2048, 768)
        });
        bench.AddComputeRow("patch_embed", "copy_fwd_any + cublasLt", "32x256x256 -> 2048x768", 2.0 * 2048 * 1024 * 768,
            t, "target ≤ 50 µs; cuDNN 257 µs (H100)", check);
    }

    private static void Conv3d(Bench bench, CudaBackend be)
    {
        var d = be.TensorDevice;
        int[] one = [1, 1, 1];
        string check = Agree(DType.BF16, dev =>
        {
            using var x = Rand(10, [1, 3, 16, 16, 16], DType.BF16, dev);
            using var w = Rand(11, [64, 3, 3, 3, 3], DType.BF16, dev);
            using var bias = Rand(12, [64], DType.BF16, dev);
            return F.Conv3d(x, w, bias, one, one);
        }, d);
        using var x = Rand(10, [1, 3, 64, 64, 64], DType.BF16, d);
        using var w = Rand(11, [64, 3, 3, 3, 3], DType.BF16, d);
        using var bias = Rand(12, [64], DType.BF16, d);
        using var y = Tensor.Empty([1, 64, 64, 64, 64], DType.BF16, d);
        var t = bench.Time(_ => be.Conv3d(x, w, bias, one, one, y));
        bench.AddComputeRow("conv3d", "conv3d_fwd_bf16", "1x3x64³ -> 64, k3 p1", 2.0 * 64 * 64 * 64 * 64 * 27 * 3, t,
            "within 1.5× of cuDNN 301 µs (H100)", check);
    }

    // Runs `make` on the device and on the CPU and compares: NMSE ≤ 1e-7 in f32, ≤ 1e-4 in bf16 (two independent
    // roundings of every output).
    // Volume preprocessing: crop + trilinear resize of a 40×512×512 CT to 32×256×256 (kernels/resize.cu).
    private static void Resize(Bench bench, CudaBackend be)
    {
        var d = be.TensorDevice;
        int[] crop = [2, 38, 10, 500, 7, 505];
        string check = Agree(DType.F32, dev =>
        {
            using var x = Rand(13, [1, 1, 20, 96, 80], DType.F32, dev);
            return F.ResizeTrilinear3d(x, [16, 64, 64], [1, 19, 3, 90, 2, 77]);
        }, d);
        using var x = Rand(13, [1, 1, 40, 512, 512], DType.F32, d);
        using var y = Tensor.Empty([1, 1, 32, 256, 256], DType.F32, d);
        var t = bench.Time(_ => be.ResizeTrilinear3d(x, crop, y));
        // Writes the output once; reads at most the crop (a 2× downsample touches about half of its rows).
        long bytes = 32L * 256 * 256 * 4 + 36L * 490 * 498 * 4;
        bench.AddMemoryRow("resize", "resize_trilinear3d_fwd_f32", "1x1x40x512x512 crop -> 32x256x256 f32", bytes, t,
            "memory-bound (write output + read crop)", check);
    }

    private static string Agree(DType dt, Func<Device, Tensor> make, Device device)
    {
        using var got = make(device);
        using var want = make(Device.Cpu);
        double[] g = got.ToDoubleArray(), r = want.ToDoubleArray();
        double num = 0, den = 0;
        for (int i = 0; i < r.Length; i++)
        {
            num += (g[i] - r[i]) * (g[i] - r[i]);
            den += r[i] * r[i];
        }

        double nmse = num / Math.Max(den, 1e-300);
        return nmse <= (dt == DType.F32 ? 1e-7 : 1e-4) ? "ok" : $"MISMATCH (NMSE {nmse:E2})";
    }
}
