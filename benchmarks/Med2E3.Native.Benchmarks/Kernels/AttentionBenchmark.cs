using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Kernels;

/// <summary>
/// <c>med2e3-bench attention-kernels [--quick] [--runs N] [--json FILE] [--markdown FILE]</c>: every attention kernel
/// variant at the model's three prefill regimes — the 3D ViT (1 × 12 heads × 2049 tokens × Dh 64), SigLIP (32 slices
/// × 16 heads × 256 × 64), the Phi-3 prefill (32 heads × 600 × 96, causal) — and the single-token decode over a bf16
/// KV cache (32 heads × Dh 96 at 768 and 4096 cached tokens). Each variant's output is first compared with the CPU
/// reference (<c>Attention.Reference</c> in float64, on the first and the last (b, h) slice: every tile of those heads,
/// tails included) by the bf16 rule of the tests: NMSE ≤ 2 × the NMSE of the reference rounded to bf16. Then it is
/// timed with CUDA events, the median of the runs after warm-up with L2 flushed before each, on fresh random non-zero
/// inputs. A row gives ms, TFLOP/s (useful FLOPs: half the square with causal masking) or GB/s of KV, the fraction of
/// the floor (the card's dense bf16 tensor peak where it is known; the copy bandwidth measured in the same run for the
/// decode) and the ratio to the PyTorch SDPA anchors of PERFORMANCE.md (measured on an H100: compare on that card).
/// <c>--quick</c> runs small shapes of the same regimes, so that the emulated device can show the command works.
/// Exit code 0, or 1 when a variant disagrees with the reference.
/// </summary>
public static class AttentionBenchmark
{
    /// <summary>One configuration: the regime, its shape, the SDPA anchor (ms, H100) and the kernels to time.</summary>
    private sealed record Regime(string Name, int B, int H, int Tq, int Tk, int Dh, bool Causal, double? AnchorMs,
        string[] Kernels);

    /// <summary>One measured row of the table and of the JSON.</summary>
    public sealed record Row(
        string Regime, string Kernel, string Shape, double MedianMs, double MinMs, double? Tflops, double? GBps,
        double? FractionOfFloor, double? SdpaAnchorMs, double? SpeedupVsSdpa, double Nmse, double NmseFloor,
        string Check);

    private static readonly string[] Fwd64 =
        ["attention_fwd_bf16", "attention_fwd_bf16_v2", "attention_fwd_bf16_v3", "attention_fwd_bf16_v4"];

    private static readonly string[] Fwd96 = ["attention_fwd_bf16", "attention_fwd_bf16_v2", "attention_fwd_bf16_v3"];

    private static readonly string[] Decode = ["attention_decode_bf16", "attention_decode_bf16_v2"];

    private static Regime[] Regimes(bool quick) => quick
        ?
        [
            new("3D ViT", 1, 2, 129, 129, 64, false, null, Fwd64),
            new("SigLIP", 2, 2, 64, 64, 64, false, null, Fwd64),
            new("Phi-3 prefill", 1, 2, 77, 77, 96, true, null, Fwd96),
            new("Phi-3 decode", 1, 4, 1, 200, 96, true, null, Decode),
        ]
        :
        [
            new("3D ViT", 1, 12, 2049, 2049, 64, false, 0.079, Fwd64),
            new("SigLIP", 32, 16, 256, 256, 64, false, 0.059, Fwd64),
            new("Phi-3 prefill", 1, 32, 600, 600, 96, true, 0.055, Fwd96),
            new("Phi-3 decode", 1, 32, 1, 768, 96, true, null, Decode),
            new("Phi-3 decode", 1, 32, 1, 4096, 96, true, null, Decode),
        ];

    /// <summary>The command: opens device 0 and runs the benchmark on it.</summary>
    /// <param name="args">The arguments after <c>attention-kernels</c>.</param>
    public static int Run(string[] args)
    {
        var options = BenchOptions.Parse(args);
        if (options.Help)
        {
            Console.WriteLine(
                "usage: med2e3-bench attention-kernels [--quick] [--runs N] [--json FILE] [--markdown FILE]");
            return 0;
        }

        if (options.Error is not null)
        {
            Console.Error.WriteLine($"med2e3-bench: {options.Error}");
            return 2;
        }

        if (!CudaRuntime.IsAvailable || !NvrtcRuntime.IsAvailable)
        {
            string reason = CudaRuntime.IsAvailable ? $"no NVRTC ({NvrtcRuntime.UnavailableReason})"
                : $"no CUDA device ({CudaRuntime.UnavailableReason})";
            Console.WriteLine($"med2e3-bench: {reason}; nothing to measure on this machine.");
            return 0;
        }

        using CudaDevice device = CudaDevice.Open(0);
        return Run(CudaBackend.Register(device), options, Console.Out);
    }

    /// <summary>Checks and times every variant of every regime on <paramref name="backend"/>; returns the exit code.</summary>
    /// <param name="backend">The CUDA backend (its attention switches are left as they were).</param>
    /// <param name="options">Runs, --quick, --json and --markdown.</param>
    /// <param name="output">Where the progress lines and the table go.</param>
    public static int Run(CudaBackend backend, BenchOptions options, TextWriter output)
    {
        CudaDevice device = backend.Device;
        var bench = new Bench(device, options);
        double? peak = DenseBf16PeakTflops(device.Name);
        string? emulated = CudaRuntime.EmulatorDescription;
        double copy = CopyCeiling(bench, options.Quick);
        output.WriteLine($"{device.Name} ({device.Arch}, {device.SmCount} SMs), driver CUDA "
            + $"{CudaRuntime.FormatVersion(CudaRuntime.DriverVersion)}, NVRTC {NvrtcRuntime.Version}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median of {options.Runs} runs after {options.Warmup} warm-up runs, L2 flushed between runs; copy ceiling "
            + $"{copy:F0} GB/s (measured), DRAM peak {device.PeakMemoryBandwidthGBs:F0} GB/s, dense bf16 tensor peak "
            + $"{(peak is { } pk ? $"{pk:F0} TFLOP/s (datasheet)" : "unknown for this card")}"));
        if (emulated is not null)
            output.WriteLine($"emulated device ({emulated}): the times are CPU times, not a GPU's");
        output.WriteLine();

        var rows = new List<Row>();
        using (TensorScope.Begin())
        {
            foreach (Regime r in Regimes(options.Quick))
            {
                rows.AddRange(Measure(backend, bench, r, peak, copy, output));
            }
        }

        string table = Table(device, rows);
        output.WriteLine();
        output.Write(table);
        if (options.MarkdownPath is not null) File.WriteAllText(options.MarkdownPath, table);
        if (options.JsonPath is not null)
        {
            var doc = new
            {
                card = device.Name,
                arch = device.Arch,
                sms = device.SmCount,
                driver = CudaRuntime.FormatVersion(CudaRuntime.DriverVersion),
                nvrtc = NvrtcRuntime.Version.ToString(),
                emulated,
                quick = options.Quick,
                runs = options.Runs,
                warmup = options.Warmup,
                copy_gbps = copy,
                peak_dram_gbps = device.PeakMemoryBandwidthGBs,
                dense_bf16_peak_tflops = peak,
                rows,
            };
            var indented = new JsonSerializerOptions { WriteIndented = true };
            File.WriteAllText(options.JsonPath, JsonSerializer.Serialize(doc, indented));
            output.WriteLine($"wrote {options.JsonPath}");
        }

        return rows.All(r => r.Check == "ok") ? 0 : 1;
    }

    private static IEnumerable<Row> Measure(CudaBackend be, Bench bench, Regime r, double? peak, double copy,
        TextWriter output)
    {
        var d = be.TensorDevice;
        double scale = 1 / Math.Sqrt(r.Dh);
        using var q = Random(11, [r.B, r.H, r.Tq, r.Dh], d);
        using var k = Random(12, [r.B, r.H, r.Tk, r.Dh], d);
        using var v = Random(13, [r.B, r.H, r.Tk, r.Dh], d);
        using var o = Tensor.Empty([r.B, r.H, r.Tq, r.Dh], DType.BF16, d);
        using var lse = Tensor.Empty([r.B, r.H, r.Tq], DType.F32, d);
        (int B, int H)[] slices = r.B * r.H == 1 ? [(0, 0)] : [(0, 0), (r.B - 1, r.H - 1)];
        double[][] oracle = slices.Select(s => Oracle(q, k, v, s.B, s.H, r.Causal, scale)).ToArray();
        string shape = $"{r.B}x{r.H}x{r.Tq}x{r.Tk}x{r.Dh}{(r.Causal ? " causal" : "")}";
        string? saved = be.AttentionKernelOverride;
        try
        {
            foreach (string kernel in r.Kernels)
            {
                be.AttentionKernelOverride = kernel;
                be.Fill(o, double.NaN);
                be.Attention(q, k, v, null, r.Causal, scale, o, lse);
                var (nmse, floor) = Agreement(o, slices, oracle);
                string check = nmse <= 2 * floor + 1e-10 ? "ok" : "MISMATCH";
                var t = bench.Time(_ => be.Attention(q, k, v, null, r.Causal, scale, o, lse));
                double ms = t.MedianUs / 1000;
                Row row;
                if (r.Tq == 1)
                {
                    double bytes = 2.0 * r.B * r.H * r.Tk * r.Dh * 2;
                    double gbps = bytes / (ms * 1e-3) / 1e9;
                    row = new Row(r.Name, kernel, shape, ms, t.MinUs / 1000, null, gbps, copy > 0 ? gbps / copy : null,
                        null, null, nmse, floor, check);
                }
                else
                {
                    double flops = 4.0 * r.B * r.H * r.Tq * r.Tk * r.Dh * (r.Causal ? 0.5 : 1);
                    double tflops = flops / (ms * 1e-3) / 1e12;
                    row = new Row(r.Name, kernel, shape, ms, t.MinUs / 1000, tflops, null, tflops / peak,
                        r.AnchorMs, r.AnchorMs / ms, nmse, floor, check);
                }

                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {r.Name,-14} {kernel,-26} {shape,-24} {ms,9:F4} ms  {check} "
                    + $"(NMSE {nmse:E2}, bf16 floor {floor:E2})"));
                yield return row;
            }
        }
        finally
        {
            be.AttentionKernelOverride = saved;
        }
    }

    // Random non-zero bf16 in ±[0.05, 1): the magnitude of normalised activations, no exact zeros.
    private static Tensor Random(long seed, int[] shape, Device device)
    {
        using var u = Tensor.Rand(seed, shape, 0.05, 1, DType.F32);
        using var sign = Tensor.Rand(seed + 1000, shape, -1, 1, DType.F32);
        float[] a = u.ToFloatArray(), s = sign.ToFloatArray();
        for (int i = 0; i < a.Length; i++) a[i] = s[i] < 0 ? -a[i] : a[i];
        using var signed = Tensor.FromArray(a, shape);
        using var b = signed.To(DType.BF16);
        return b.To(device);
    }

    // Attention.Reference in float64 on the (b, h) slice of the bf16 inputs, widened exactly.
    private static double[] Oracle(Tensor q, Tensor k, Tensor v, int b, int h, bool causal, double scale)
    {
        Tensor Slice(Tensor t)
        {
            using var n0 = t.Narrow(0, b, 1);
            using var n1 = n0.Narrow(1, h, 1);
            using var host = n1.To(Device.Cpu);
            return host.To(DType.F64);
        }

        using var qs = Slice(q);
        using var ks = Slice(k);
        using var vs = Slice(v);
        using var o = Tensor.Empty([1, 1, q.Dim(2), q.Dim(3)], DType.F64);
        using var lse = Tensor.Empty([1, 1, q.Dim(2)], DType.F64);
        using (CpuBackend.ReferenceMode()) CpuBackend.Instance.Attention(qs, ks, vs, null, causal, scale, o, lse);
        return o.ToDoubleArray();
    }

    // NMSE of the device output against the oracle over the checked slices, and the NMSE of the oracle rounded to
    // bf16 (the output rounding no kernel can avoid).
    private static (double Nmse, double Floor) Agreement(Tensor o, (int B, int H)[] slices, double[][] oracle)
    {
        double num = 0, floorNum = 0, den = 0;
        for (int s = 0; s < slices.Length; s++)
        {
            using var n0 = o.Narrow(0, slices[s].B, 1);
            using var n1 = n0.Narrow(1, slices[s].H, 1);
            double[] got = n1.ToDoubleArray(), want = oracle[s];
            for (int i = 0; i < want.Length; i++)
            {
                double e = double.IsNaN(got[i]) ? double.PositiveInfinity : got[i] - want[i];
                double rounded = RoundToBf16(want[i]) - want[i];
                num += e * e;
                floorNum += rounded * rounded;
                den += want[i] * want[i];
            }
        }

        return (num / den, floorNum / den);
    }

    private static double RoundToBf16(double x)
    {
        uint u = BitConverter.SingleToUInt32Bits((float)x);
        u += 0x7fffu + ((u >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(u & 0xffff0000u);
    }

    // A device-to-device copy of 256 MiB (16 MiB with --quick): read + write bytes per second, the practical ceiling
    // of a memory-bound kernel on this card.
    private static double CopyCeiling(Bench bench, bool quick)
    {
        long n = quick ? 16L << 20 : 256L << 20;
        using DeviceBuffer a = bench.Device.Pool.Rent(n);
        using DeviceBuffer b = bench.Device.Pool.Rent(n);
        bench.Stream.Memset8(a.Pointer, 7, n);
        var t = bench.Time(s => s.CopyDeviceToDevice(a.Pointer, b.Pointer, n));
        return 2.0 * n / (t.MedianUs * 1e-6) / 1e9;
    }

    // Dense bf16 tensor-core peak (f32 accumulation) from the vendor datasheets, for the cards these numbers are known
    // for; null otherwise (the fraction of the floor is then left out).
    internal static double? DenseBf16PeakTflops(string card) => card switch
    {
        _ when Has(card, "H100") && Has(card, "PCIe") => 756,
        _ when Has(card, "H100") || Has(card, "H200") => 989,
        _ when Has(card, "A100") => 312,
        _ when Has(card, "L40S") => 362,
        _ => null,
    };

    private static bool Has(string card, string part) => card.Contains(part, StringComparison.Ordinal);

    private static string Table(CudaDevice device, List<Row> rows)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        w.WriteLine($"card: {device.Name} ({device.Arch}); SDPA anchors: PyTorch 2.11 on an H100 (PERFORMANCE.md); "
            + "floor: dense bf16 tensor peak (prefill), measured copy bandwidth (decode)");
        w.WriteLine();
        w.WriteLine("| regime | kernel | shape | median ms | min ms | TFLOP/s | GB/s | fraction of floor "
            + "| SDPA ms (H100) | SDPA / this | NMSE (bf16 floor) | check |");
        w.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (Row r in rows)
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Regime} | {r.Kernel} | {r.Shape} | {r.MedianMs:F4} | {r.MinMs:F4} | {Fmt(r.Tflops, "F1")} | "
                + $"{Fmt(r.GBps, "F0")} | {Pct(r.FractionOfFloor)} | {Fmt(r.SdpaAnchorMs, "F3")} | "
                + $"{Fmt(r.SpeedupVsSdpa, "F2")} | {r.Nmse:E2} ({r.NmseFloor:E2}) | {r.Check} |"));
        }

        return w.ToString();
    }

    private static string Fmt(double? v, string format) =>
        v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "—";

    private static string Pct(double? v) =>
        v is { } x ? (100 * x).ToString("F1", CultureInfo.InvariantCulture) + " %" : "—";
}
