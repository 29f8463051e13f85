using Med2E3.Native.Cli;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary><c>med2e3 kernels check</c> and the CUDA lines of <c>med2e3 info</c>, through the real command tree.</summary>
public class KernelsCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [NvrtcFact]
    public void CheckPrintsTheResourceTableAndPasses()
    {
        var (code, output, error) = Run("kernels", "check", "--arch", "sm_80", "--file", "reduce.cu");
        Assert.True(code == ExitCodes.Ok, error);
        Assert.Contains("| file | kernel | arch | registers | smem B | stack B | spill stores B | spill loads B | default |", output);
        Assert.Contains("| reduce.cu | sum_fwd_f32_v2 | sm_80 |", output);
        Assert.Contains("kernels check passed", output);
    }

    [NvrtcTheory]
    [InlineData("sm_8")]
    [InlineData("hopper")]
    [InlineData("sm_80,compute_90")]
    public void UnknownArchitectureIsAUsageError(string arch)
    {
        var (code, output, error) = Run("kernels", "check", "--arch", arch);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("med2e3: --arch: unknown architecture", error);
        Assert.Equal("", output);
    }

    [NvrtcFact]
    public void ArchitectureBeyondThisNvrtcIsAUsageErrorListingWhatItSupports()
    {
        Assert.SkipWhen(NvrtcRuntime.SupportedArchs.Count == 0, "this NVRTC cannot list its targets");
        string beyond = $"sm_{NvrtcRuntime.SupportedArchs[^1] + 100}";
        var (code, _, error) = Run("kernels", "check", "--arch", beyond);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains($"architecture {beyond} is not supported by NVRTC", error);
    }

    [NvrtcFact]
    public void UnknownFileIsAUsageError()
    {
        var (code, _, error) = Run("kernels", "check", "--file", "nope.cu");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("kernels/nope.cu does not exist", error);
    }

    [Fact]
    public void InfoReportsDriverNvrtcAndCublas()
    {
        var (code, output, _) = Run("info");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("  driver      ", output);
        Assert.Contains("  NVRTC       ", output);
        Assert.Contains("  cuBLAS      ", output);
        Assert.Contains($"{KernelSources.Files.Count} files embedded", output);
    }
}
