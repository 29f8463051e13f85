using System.Text.Json;
using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cli;

public class BenchTests
{
    [Fact]
    public void TimesEveryStageOfTheDemo()
    {
        var r = CliRunner.Run("bench", "--runs", "2", "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("runs").GetInt32());
        Assert.Equal(12, root.GetProperty("new_tokens").GetInt32());
        foreach (string stage in new[] { "vision", "prefill", "decode", "generate" })
        {
            var s = root.GetProperty(stage);
            Assert.True(s.GetProperty("min_ms").GetDouble() > 0, stage);
            Assert.True(s.GetProperty("median_ms").GetDouble() >= s.GetProperty("min_ms").GetDouble(), stage);
        }
        Assert.True(root.GetProperty("decode_tokens_per_second").GetDouble() > 0);
    }

    [Fact]
    public void TableAndPointerToPerOpBenchmarks()
    {
        var r = CliRunner.Run("bench", "--runs", "1");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("| decode: 11 steps with the KV cache |", r.Out);
        Assert.Contains("benchmarks/Med2E3.Native.Benchmarks", r.Out);
    }

    [Fact]
    public void CheckpointWithoutVolumeIsAUsageError()
    {
        var r = CliRunner.Run("bench", "--checkpoint", CliRunner.FixtureDir);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("med2e3: bench needs both --checkpoint and --volume, or neither (the embedded demo)", r.ErrLines);
    }
}
