using Med2E3.Native.Cli;
using Med2E3.Native.Models.Golden;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Cli;

/// <summary><c>--precision f32|bf16</c>: parsing, the golden check at the bf16 tolerances, and what info reports.</summary>
public sealed class PrecisionOptionTests
{
    [Fact]
    public void Bf16ProductsOfAnF32ModelUseTheBf16TolerancesAndAllIds()
    {
        Assert.Equal(new GoldenTolerances(2e-2, 2e-2, 1e-1, true), GoldenTolerances.For(DType.F32, CpuPrecision.Bf16));
        Assert.Equal(GoldenTolerances.For(DType.F32), GoldenTolerances.For(DType.F32, CpuPrecision.F32));
        Assert.Equal(GoldenTolerances.For(DType.BF16), GoldenTolerances.For(DType.BF16, CpuPrecision.Bf16));
    }

    [Fact]
    public void GoldenCheckPassesInBf16WithTheSameGreedyIds()
    {
        var report = GoldenCheck.Run(CliRunner.FixtureDir, "cpu", new Med2E3LoadOptions { Precision = CpuPrecision.Bf16 });
        var text = new StringWriter();
        report.Write(text);
        Assert.True(report.Passed, text.ToString());
        Assert.Equal("f32, bf16 CPU products", report.DType);
        GoldenRow ids = report["output.generated_ids"];
        Assert.True(ids.Passed, ids.Detail);
        Assert.Equal(2e-2, report["output.logits"].Tolerance);
    }

    [Fact]
    public void GoldenCheckCommandTakesThePrecision()
    {
        var r = CliRunner.Run("golden-check", "--fixture", CliRunner.FixtureDir, "--device", "cpu", "--precision", "bf16");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("(f32, bf16 CPU products)", r.Out, StringComparison.Ordinal);
        Assert.Contains("PASS:", r.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("generate", "--demo")]
    [InlineData("golden-check", "--fixture")]
    [InlineData("bench", "--runs")]
    public void AnUnknownPrecisionIsAUsageError(string command, string other)
    {
        string[] args = other switch
        {
            "--fixture" => [command, other, CliRunner.FixtureDir, "--precision", "fp8"],
            "--runs" => [command, other, "1", "--precision", "fp8"],
            _ => [command, other, "--precision", "fp8"],
        };
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == ExitCodes.Usage, r.ToString());
        Assert.Contains("--precision", r.Err, StringComparison.Ordinal);
        Assert.Contains("fp8", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void InfoReportsTheMatMulPathOfBothPrecisions()
    {
        var r = CliRunner.Run("info");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains($"matmul      {CpuMatMulPath.Describe(CpuPrecision.F32)}; {CpuMatMulPath.Describe(CpuPrecision.Bf16)}",
            r.Out, StringComparison.Ordinal);
        Assert.Contains($"CPU library {Med2E3.Native.Runtime.DnnlRuntime.Describe()}", r.Out, StringComparison.Ordinal);
    }
}
