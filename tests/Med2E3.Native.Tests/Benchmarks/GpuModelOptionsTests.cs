using Med2E3.Native.Benchmarks.Kernels;

namespace Med2E3.Native.Tests.Benchmarks;

/// <summary>
/// The options of <c>med2e3-bench gpu-model</c> (the benchmark itself runs in the CUDA suite): defaults, every flag, and
/// a one-line error for bad input.
/// </summary>
public sealed class GpuModelOptionsTests
{
    [Fact]
    public void DefaultsAreTheIssuesRunCounts()
    {
        var o = GpuModelOptions.Parse([]);
        Assert.Null(o.Error);
        Assert.False(o.Quick);
        Assert.Equal(10, o.Runs);
        Assert.Equal(3, o.E2eRuns);
        Assert.False(o.E2eRunsGiven);
        Assert.Equal(100, o.E2eTokens);
        Assert.Equal(GpuModelBenchmark.Stages, o.Stages);
    }

    [Fact]
    public void EveryFlagIsRead()
    {
        var o = GpuModelOptions.Parse(["--quick", "--work", "/tmp/w", "--runs", "7", "--e2e-runs", "2", "--seed", "5",
            "--json", "a.json", "--markdown", "a.md", "--stages", "prefill, decode"]);
        Assert.Null(o.Error);
        Assert.True(o.Quick);
        Assert.Equal("/tmp/w", o.Work);
        Assert.Equal(7, o.Runs);
        Assert.Equal(2, o.E2eRuns);
        Assert.True(o.E2eRunsGiven);
        Assert.Equal(5, o.Seed);
        Assert.Equal("a.json", o.JsonPath);
        Assert.Equal("a.md", o.MarkdownPath);
        Assert.Equal(["prefill", "decode"], o.Stages);
    }

    [Theory]
    [InlineData("--runs", "0", "--runs")]
    [InlineData("--runs", "x", "--runs")]
    [InlineData("--stages", "encode,warp", "'warp'")]
    [InlineData("--json", null, "--json")]
    [InlineData("--bogus", null, "'--bogus'")]
    public void BadInputIsOneLineNamingTheProblem(string flag, string? value, string named)
    {
        var o = GpuModelOptions.Parse(value is null ? [flag] : [flag, value]);
        Assert.NotNull(o.Error);
        Assert.Contains(named, o.Error);
        Assert.DoesNotContain('\n', o.Error);
    }
}
