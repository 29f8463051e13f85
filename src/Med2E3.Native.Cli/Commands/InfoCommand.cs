using System.CommandLine;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Cli.Commands;

/// <summary><c>med2e3 info</c>: this machine (CPU, GPUs, CUDA libraries and versions) and optionally a checkpoint.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint(required: false);
        var command = new Command("info", "Show the CPU, CUDA devices and libraries found, and summarise a checkpoint")
        {
            checkpoint,
        };
        command.SetAction(parse => Run(parse.GetValue(checkpoint)?.FullName, parse.InvocationConfiguration.Output));
        return command;
    }

    public static int Run(string? checkpointDir, TextWriter stdout)
    {
        var version = typeof(InfoCommand).Assembly.GetName().Version;
        stdout.WriteLine($"med2e3 {version?.ToString(3)}");
        stdout.WriteLine($"  .NET        {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})");
        stdout.WriteLine($"  OS          {RuntimeInformation.OSDescription}");
        stdout.WriteLine($"  CPU         {RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores, "
            + $"Vector<float> = {Vector<float>.Count} lanes{CpuFeatures()}");
        stdout.WriteLine($"  matmul      {Ops.Cpu.CpuMatMulPath.Describe(Ops.Cpu.CpuPrecision.F32)}; "
            + Ops.Cpu.CpuMatMulPath.Describe(Ops.Cpu.CpuPrecision.Bf16));
        stdout.WriteLine($"  CPU library {DnnlRuntime.Describe()}");
        stdout.WriteLine("CUDA");
        foreach (string line in CudaEnvironment.Describe())
            stdout.WriteLine($"  {line}");

        if (checkpointDir is null) return ExitCodes.Ok;
        return CheckpointInfo.Run(checkpointDir, stdout);
    }

    static string CpuFeatures()
    {
        var features = new List<string>();
        if (Avx2.IsSupported) features.Add("AVX2");
        if (Fma.IsSupported) features.Add("FMA");
        if (Avx512F.IsSupported) features.Add("AVX-512F");
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) features.Add("AdvSIMD");
        return features.Count == 0 ? "" : ", " + string.Join(" ", features);
    }
}
