using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Kernels;

/// <summary>
/// <c>med2e3-bench kernels [--op NAME] [--reps N] [--json PATH]</c>: times the op kernels at the shapes of
/// PERFORMANCE.md on device 0. Each row is checked against the CPU backend first, then timed with CUDA events: 3
/// warm-up runs, then at least <c>--reps</c> (≥ 10) timed runs, each after a write of twice the L2 size so no run
/// starts with its inputs cached; the median is reported with GB/s or TFLOP/s, the fraction of the card's DRAM
/// bandwidth for memory-bound rows, and the PyTorch anchor of PERFORMANCE.md (H100) where there is one.
/// </summary>
internal static class KernelBench
{
    private sealed record Row(string Op, string Shape, string DType, double MsMedian, double MsMin, double? GBs,
        double? TFlops, double? PercentOfDramPeak, double? AnchorMs, string Check);

    private sealed record Case(string Name, string Shape, DType DType, double Bytes, double Flops, double? AnchorMs,
        Func<CudaBackend, Action> Prepare, Func<CudaBackend, string> Check);

    public static int Run(string[] args)
    {
        string? only = Option(args, "--op");
        int reps = Math.Max(10, int.Parse(Option(args, "--reps") ?? "20", CultureInfo.InvariantCulture));
        string json = Option(args, "--json") ?? "kernel-bench.json";
        if (!CudaRuntime.IsAvailable)
        {
            Console.Error.WriteLine($"med2e3-bench kernels: no CUDA device ({CudaRuntime.UnavailableReason})");
            return 2;
        }

        using var device = CudaDevice.Open(0);
        var backend = CudaBackend.Register(device);
        Console.WriteLine($"{device}, peak DRAM {device.PeakMemoryBandwidthGBs:F0} GB/s");
        var rows = new List<Row>();
        using DeviceBuffer flush = device.Pool.Rent(2L * Math.Max(device.L2CacheBytes, 1 << 20));
        foreach (var c in Cases().Where(c => only is null || c.Name.StartsWith(only,
            StringComparison.OrdinalIgnoreCase)))
        {
            using var scope = TensorScope.Begin();
            string check = c.Check(backend);
            Action op = c.Prepare(backend);
            var times = Time(device, flush, op, reps);
            double med = Median(times), min = times.Min();
            double? gbs = c.Bytes > 0 ? c.Bytes / (med * 1e-3) / 1e9 : null;
            double? tflops = c.Flops > 0 ? c.Flops / (med * 1e-3) / 1e12 : null;
            double? pct = gbs is { } g && c.Flops == 0 ? 100 * g / device.PeakMemoryBandwidthGBs : null;
            var row = new Row(c.Name, c.Shape, c.DType.Name(), med, min, gbs, tflops, pct, c.AnchorMs, check);
            rows.Add(row);
            var line = new System.Text.StringBuilder();
            line.Append(CultureInfo.InvariantCulture,
                $"{c.Name,-22} {c.Shape,-22} {c.DType.Name(),-5} {med * 1e3,9:F1} µs");
            if (gbs is { } gb) line.Append(CultureInfo.InvariantCulture, $" {gb,8:F0} GB/s");
            if (tflops is { } tf) line.Append(CultureInfo.InvariantCulture, $" {tf,7:F1} TFLOP/s");
            if (pct is { } pc) line.Append(CultureInfo.InvariantCulture, $" {pc,5:F1} % of DRAM peak");
            if (c.AnchorMs is { } a) line.Append(CultureInfo.InvariantCulture,
                $"  PyTorch anchor {a * 1e3:F0} µs (H100)");
            Console.WriteLine(line.Append("  check ").Append(check).ToString());
        }

        File.WriteAllText(json, JsonSerializer.Serialize(new { device = device.ToString(), rows },
            new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {json}");
        return rows.All(r => r.Check == "ok") ? 0 : 1;
    }

    private static IEnumerable<Case> Cases()
    {
        // LayerNorm 8192×1024 bf16 (PERFORMANCE.md: 0.045 ms in PyTorch, target ≥ 2 TB/s).
        yield return new Case("layernorm", "8192x1024", DType.BF16, 2.0 * 8192 * 1024 * 2, 0, 0.045,
            be => LayerNorm(be, 8192, 1024, DType.BF16), be => CheckLayerNorm(be, 8192, 1024, DType.BF16));
        yield return new Case("layernorm", "8192x1024", DType.F32, 2.0 * 8192 * 1024 * 4, 0, null,
            be => LayerNorm(be, 8192, 1024, DType.F32), be => CheckLayerNorm(be, 8192, 1024, DType.F32));
        // Attention prefill at the three encoder/decoder shapes, and a Phi-3 decode step over a 600-token cache.
        foreach (var (b, h, t, dh, causal, anchor) in new[]
                 {
                     (1, 12, 2049, 64, false, (double?)0.079), (32, 16, 256, 64, false, 0.059), (1, 32, 600, 96,
                         true, 0.055),
                 })
        {
            double flops = 4.0 * b * h * t * t * dh * (causal ? 0.5 : 1);
            yield return new Case("attention", $"{b}x{h}x{t}x{dh}", DType.BF16, 0, flops, anchor,
                be => Attention(be, b, h, t, t, dh, causal), be => CheckAttention(be, b, h, Math.Min(t, 130), dh,
                    causal));
        }

        yield return new Case("attention_decode", "1x32x1x600x96", DType.BF16, 2.0 * 32 * 600 * 96 * 2, 0, null,
            be => Attention(be, 1, 32, 1, 600, 96, true), be => CheckAttention(be, 1, 32, 1, 96, true, 600));
        // 3D patch embedding of the real volume: the perceptron gather, then one 2048×1024 · 1024×768 GEMM + bias.
        yield return new Case("patch_embed", "32x256x256->768", DType.BF16, 0, 2.0 * 2048 * 1024 * 768, 0.257,
            be => PatchEmbed(be), be => "ok (gather checked in Tests.Cuda, GEMM is cuBLAS)");
        // General conv3d, 3×3×3, 3 → 64 channels, 64³, padding 1 (cuDNN anchor 0.301 ms bf16).
        yield return new Case("conv3d", "1x3x64^3->64 k3", DType.BF16, 0, 2.0 * 64 * 64 * 64 * 64 * 27 * 3, 0.301,
            be => Conv3d(be, 64), be => CheckConv3d(be));
    }

    private static Tensor Rand(long seed, int[] shape, DType dtype, Device device)
    {
        using var t = Tensor.Rand(seed, shape, -1, 1, DType.F32);
        using var c = t.To(dtype);
        return c.To(device);
    }

    private static Action LayerNorm(CudaBackend be, int n, int c, DType dt)
    {
        var d = be.TensorDevice;
        var x = Rand(1, [n, c], dt, d);
        var w = Rand(2, [c], dt, d);
        var b = Rand(3, [c], dt, d);
        var y = Tensor.Empty([n, c], dt, d);
        var mean = Tensor.Empty([n], DType.F32, d);
        var rstd = Tensor.Empty([n], DType.F32, d);
        return () => be.LayerNorm(x, w, b, 1e-5, y, mean, rstd);
    }

    private static string CheckLayerNorm(CudaBackend be, int n, int c, DType dt)
    {
        using var x = Rand(1, [n, c], dt, Device.Cpu);
        using var w = Rand(2, [c], dt, Device.Cpu);
        using var b = Rand(3, [c], dt, Device.Cpu);
        using var want = F.LayerNorm(x, w, b, 1e-5);
        using var dx = x.To(be.TensorDevice);
        using var dw = w.To(be.TensorDevice);
        using var db = b.To(be.TensorDevice);
        using var got = F.LayerNorm(dx, dw, db, 1e-5);
        return Agree(got, want, dt);
    }

    private static Action Attention(CudaBackend be, int b, int h, int tq, int tk, int dh, bool causal)
    {
        var d = be.TensorDevice;
        var q = Rand(4, [b, h, tq, dh], DType.BF16, d);
        var k = Rand(5, [b, h, tk, dh], DType.BF16, d);
        var v = Rand(6, [b, h, tk, dh], DType.BF16, d);
        var o = Tensor.Empty([b, h, tq, dh], DType.BF16, d);
        var lse = Tensor.Empty([b, h, tq], DType.F32, d);
        double scale = 1 / Math.Sqrt(dh);
        return () => be.Attention(q, k, v, null, causal, scale, o, lse);
    }

    // Checked at a reduced length (the CPU reference is the slow part), with the same kernels and code paths.
    private static string CheckAttention(CudaBackend be, int b, int h, int tq, int dh, bool causal, int? tk = null)
    {
        int kk = tk ?? tq;
        using var q = Rand(4, [b, h, tq, dh], DType.BF16, Device.Cpu);
        using var k = Rand(5, [b, h, kk, dh], DType.BF16, Device.Cpu);
        using var v = Rand(6, [b, h, kk, dh], DType.BF16, Device.Cpu);
        using var want = F.Attention(q, k, v, null, causal);
        using var dq = q.To(be.TensorDevice);
        using var dk = k.To(be.TensorDevice);
        using var dv = v.To(be.TensorDevice);
        using var got = F.Attention(dq, dk, dv, null, causal);
        return Agree(got, want, DType.BF16);
    }

    private static Action PatchEmbed(CudaBackend be)
    {
        var d = be.TensorDevice;
        var vol = Rand(7, [1, 1, 32, 256, 256], DType.BF16, d);
        var w = Rand(8, [768, 1024], DType.BF16, d);
        var bias = Rand(9, [768], DType.BF16, d);
        return () =>
        {
            using var p = F.Patchify3d(vol, 4, 16, 16);  // (1, 2048, 1024)
            using var y = F.Linear(p, w, bias);          // (1, 2048, 768)
        };
    }

    private static Action Conv3d(CudaBackend be, int s)
    {
        var d = be.TensorDevice;
        var x = Rand(10, [1, 3, s, s, s], DType.BF16, d);
        var w = Rand(11, [64, 3, 3, 3, 3], DType.BF16, d);
        var bias = Rand(12, [64], DType.BF16, d);
        var y = Tensor.Empty([1, 64, s, s, s], DType.BF16, d);
        return () => be.Conv3d(x, w, bias, [1, 1, 1], [1, 1, 1], y);
    }

    private static string CheckConv3d(CudaBackend be)
    {
        using var x = Rand(10, [1, 3, 16, 16, 16], DType.BF16, Device.Cpu);
        using var w = Rand(11, [64, 3, 3, 3, 3], DType.BF16, Device.Cpu);
        using var bias = Rand(12, [64], DType.BF16, Device.Cpu);
        using var want = F.Conv3d(x, w, bias, [1, 1, 1], [1, 1, 1]);
        using var dx = x.To(be.TensorDevice);
        using var dw = w.To(be.TensorDevice);
        using var db = bias.To(be.TensorDevice);
        using var got = F.Conv3d(dx, dw, db, [1, 1, 1], [1, 1, 1]);
        return Agree(got, want, DType.BF16);
    }

    // f32: NMSE ≤ 1e-7 against the CPU backend; bf16: ≤ 1e-4 (two independent bf16 roundings of the output).
    private static string Agree(Tensor got, Tensor want, DType dt)
    {
        double[] g = got.ToDoubleArray(), r = want.ToDoubleArray();
        double num = 0, den = 0;
        for (int i = 0; i < r.Length; i++)
        {
            num += (g[i] - r[i]) * (g[i] - r[i]);
            den += r[i] * r[i];
        }

        double nmse = num / Math.Max(den, 1e-300);
        return nmse <= (dt == DType.F32 ? 1e-7 : 1e-4) ? "ok" : $"FAILED (NMSE {nmse:E2})";
    }

    private static double[] Time(CudaDevice device, DeviceBuffer flush, Action op, int reps)
    {
        for (int i = 0; i < 3; i++) op();
        device.Synchronize();
        using var start = device.CreateEvent();
        using var stop = device.CreateEvent();
        var ms = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            device.Stream.Memset8(flush.Pointer, (byte)i, flush.Bytes);  // evicts the inputs from L2
            start.Record(device.Stream);
            op();
            stop.Record(device.Stream);
            stop.Synchronize();
            ms[i] = CudaEvent.ElapsedMilliseconds(start, stop);
        }

        return ms;
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
