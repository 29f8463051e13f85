using System.Globalization;
using Med2E3.Native.Benchmarks;
using Med2E3.Native.Runtime;

// med2e3-bench [all|copy|elementwise|reduce|gemm|compile|ops|layernorm|attention|patch_embed|conv3d|resize] [--runs N]
//              [--arch sm_XX] [--json FILE] [--markdown FILE] [--quick]
// (ops and the four after it are the op-library suites in Kernels/OpSuites.cs)
// Times kernels with CUDA events (median of ≥ 10 runs after warm-up, L2 flushed between runs), after checking each
// result against the CPU. Prints one table row per configuration and writes JSON.
// med2e3-bench cpu-gemm [--threads 1|2] [--repeats R] [--quick] [--json FILE]: PackedLinear on every model shape against
// OpenBLAS and Gemm.Sgemm with the FMA peak and read bandwidth floors; [--shape M,N,K] [--linear M,N,K]: the raw Sgemm
// against OpenBLAS (Cpu/CpuGemmBenchmark.cs); needs no GPU.
if (args.Length > 0 && args[0] == "cpu-gemm")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuGemmBenchmark.Run(args[1..]);
}

// med2e3-bench cpu-bf16 [--linear M,N,K] [--quick] [--repeats R] [--threads T] [--json FILE]: the bf16 CPU linear on
// oneDNN against the f32 definition and the own bf16 kernels, at the Phi-3 and SigLIP shapes (Cpu/CpuBf16Benchmark.cs).
if (args.Length > 0 && args[0] == "cpu-bf16")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuBf16Benchmark.Run(args[1..]);
}

// med2e3-bench tokenizer [--model DIR] [--repeats R] [--json FILE]: Phi-3 tokenizer encode speed (Cpu/TokenizerBenchmark.cs).
if (args.Length > 0 && args[0] == "tokenizer")
{
    return Med2E3.Native.Benchmarks.Cpu.TokenizerBenchmark.Run(args[1..]);
}

// med2e3-bench cpu-attention [--threads T] [--repeats R] [--json FILE] [--quick]: the CPU attention forward (old blocked
// GEMM kernel vs FlashAttention) at the ViT, SigLIP, Phi-3 prefill and decode shapes against the FMA peak and the
// streaming-read bandwidth measured in the same run (Cpu/CpuAttentionBenchmark.cs); needs no GPU.
if (args.Length > 0 && args[0] == "cpu-attention")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuAttentionBenchmark.Run(args[1..]);
}

// med2e3-bench cpu-model [--precision f32,bf16] [--stages …] [--quick] [--llm-layers N] [--json FILE] [--markdown FILE]:
// the whole model at the released geometry on a synthetic checkpoint, with the machine's floors and the PyTorch twin
// (Cpu/CpuModelBenchmark.cs); needs no GPU.
if (args.Length > 0 && args[0] == "cpu-model")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuModelBenchmark.Run(args[1..]);
}

// med2e3-bench cpu-weights [--gib G] [--repeats R] [--precision f32|bf16] [--json FILE]: open + CRC-32 + prepare
// times of a synthetic checkpoint (Cpu/CpuWeightsBenchmark.cs).
if (args.Length > 0 && args[0] == "cpu-weights")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuWeightsBenchmark.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "cpu-ops")
{
    return Med2E3.Native.Benchmarks.Cpu.CpuOpsBenchmark.Run(args[1..]);
}

// med2e3-bench attention-kernels [--quick] [--runs N] [--json FILE] [--markdown FILE]: every attention variant at the
// model's regimes with the SDPA anchors (Kernels/AttentionBenchmark.cs).
if (args.Length > 0 && args[0] == "attention-kernels")
{
    return Med2E3.Native.Benchmarks.Kernels.AttentionBenchmark.Run(args[1..]);
}

// med2e3-bench gpu-model [--quick] [--work DIR] [--runs N] [--json FILE] [--markdown FILE] [--stages …]: the whole
// model on the CUDA device, stage by stage, from the synthetic checkpoint of cpu-model (Kernels/GpuModelBenchmark.cs).
if (args.Length > 0 && args[0] == "gpu-model")
{
    return Med2E3.Native.Benchmarks.Kernels.GpuModelBenchmark.Run(args[1..]);
}

var options = BenchOptions.Parse(args);
if (options.Help)
{
    Console.WriteLine("usage: med2e3-bench [all|copy|elementwise|reduce|gemm|compile|ops|layernorm|attention|patch_embed|conv3d|resize]"
        + " [--runs N] [--arch sm_XX] [--json FILE] [--markdown FILE] [--quick]");
    return 0;
}

if (options.Error is not null)
{
    Console.Error.WriteLine($"med2e3-bench: {options.Error}");
    return 2;
}

if (options.Suite == "compile")
{
    // Compile times need only NVRTC: measure for --arch (default: the device's, else sm_90).
    if (!NvrtcRuntime.IsAvailable)
    {
        Console.WriteLine($"med2e3-bench: no NVRTC ({NvrtcRuntime.UnavailableReason}); nothing to measure on this machine.");
        return 0;
    }

    string arch = options.Arch ?? (CudaRuntime.IsAvailable ? DeviceArch() : "sm_90");
    IReadOnlyList<CompileTimes.Row> compileRows = CompileTimes.Measure(arch, options.Quick ? 3 : 5);
    CompileTimes.Print(Console.Out, compileRows);
    if (options.JsonPath is not null)
    {
        File.WriteAllText(options.JsonPath, System.Text.Json.JsonSerializer.Serialize(compileRows));
    }

    return 0;
}

if (!CudaRuntime.IsAvailable || !NvrtcRuntime.IsAvailable)
{
    string reason = CudaRuntime.IsAvailable ? $"no NVRTC ({NvrtcRuntime.UnavailableReason})" : $"no CUDA device ({CudaRuntime.UnavailableReason})";
    Console.WriteLine($"med2e3-bench: {reason}; nothing to measure on this machine.");
    return 0;
}

using CudaDevice device = CudaDevice.Open(0);
var bench = new Bench(device, options);
Console.WriteLine($"{device.Name} ({device.Arch}, {device.SmCount} SMs), driver CUDA {CudaRuntime.FormatVersion(CudaRuntime.DriverVersion)}, "
    + $"NVRTC {NvrtcRuntime.Version}, cuBLAS {(CublasRuntime.IsAvailable ? CublasRuntime.FormatVersion(CublasRuntime.Version) : "absent")}");
Console.WriteLine($"median of {options.Runs} runs after {options.Warmup} warm-up runs, L2 flushed between runs");
Console.WriteLine();

IReadOnlyList<CompileTimes.Row> compile = CompileTimes.Measure(device.Arch, 3);
CompileTimes.Print(Console.Out, compile);
bench.Compile = compile;
Suites.Run(bench, options.Suite);
bench.PrintTable(Console.Out);
if (options.JsonPath is not null)
{
    bench.WriteJson(options.JsonPath);
    Console.WriteLine($"wrote {options.JsonPath}");
}

if (options.MarkdownPath is not null)
{
    using var writer = new StreamWriter(options.MarkdownPath);
    bench.PrintTable(writer);
    Console.WriteLine($"wrote {options.MarkdownPath}");
}

return bench.Failures == 0 ? 0 : 1;

static string DeviceArch()
{
    using CudaDevice d = CudaDevice.Open(0);
    return d.Arch;
}

namespace Med2E3.Native.Benchmarks
{
    /// <summary>Command-line options of med2e3-bench.</summary>
    public sealed record BenchOptions(string Suite, int Runs, int Warmup, string? JsonPath, string? MarkdownPath, bool Quick, bool Help, string? Error)
    {
        public string? Arch { get; init; }

        public static BenchOptions Parse(string[] args)
        {
            string suite = "all";
            int runs = 20;
            string? json = null;
            string? markdown = null;
            bool quick = false;
            string? arch = null;
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string? Next() => i + 1 < args.Length ? args[++i] : null;
                switch (a)
                {
                    case "-h" or "--help":
                        return new BenchOptions(suite, runs, 3, json, markdown, quick, true, null);
                    case "--runs":
                        if (!int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out runs) || runs < 10)
                            return new BenchOptions(suite, runs, 3, json, markdown, quick, false, "--runs expects a whole number ≥ 10");
                        break;
                    case "--json":
                        json = Next();
                        break;
                    case "--markdown":
                        markdown = Next();
                        break;
                    case "--arch":
                        arch = Next();
                        break;
                    case "--quick":
                        quick = true;
                        break;
                    case "all" or "copy" or "elementwise" or "reduce" or "gemm" or "compile":
                    case "ops" or "layernorm" or "attention" or "patch_embed" or "conv3d" or "resize":
                        suite = a;
                        break;
                    default:
                        return new BenchOptions(suite, runs, 3, json, markdown, quick, false, $"unknown argument '{a}' (try --help)");
                }
            }

            return new BenchOptions(suite, runs, 3, json, markdown, quick, false, null) { Arch = arch };
        }
    }
}
