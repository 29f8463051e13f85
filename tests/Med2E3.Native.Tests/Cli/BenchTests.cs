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
        var machine = root.GetProperty("machine");
        Assert.Equal(Environment.ProcessorCount, machine.GetProperty("logical_cores").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(machine.GetProperty("cpu").GetString()));
        if (OperatingSystem.IsLinux()) Assert.Equal(3, machine.GetProperty("load_average").GetArrayLength());
    }

    [Fact]
    public void MachineFilesAreParsed()
    {
        using var tmp = new CliRunner.TempDir();
        File.WriteAllText(tmp.File("cpuinfo"), "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763 64-Core Processor\nprocessor\t: 1\nmodel name\t: other\n");
        File.WriteAllText(tmp.File("loadavg"), "3.52 1.58 0.59 2/467 12345\n");
        Assert.Equal("AMD EPYC 7763 64-Core Processor", Med2E3.Native.Cli.Commands.MachineInfo.ReadCpuModel(tmp.File("cpuinfo")));
        Assert.Equal([3.52, 1.58, 0.59], Med2E3.Native.Cli.Commands.MachineInfo.ReadLoadAverage(tmp.File("loadavg"))!);
        Assert.Null(Med2E3.Native.Cli.Commands.MachineInfo.ReadLoadAverage(tmp.File("missing")));
        Assert.Equal("AMD EPYC, 2 logical cores (X64); load average 3.52 1.58 0.59",
            new Med2E3.Native.Cli.Commands.MachineInfo("AMD EPYC", 2, "X64", [3.52, 1.58, 0.59]).ToString());
    }

    [Fact]
    public void TableAndPointerToPerOpBenchmarks()
    {
        var r = CliRunner.Run("bench", "--runs", "1");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("| decode: 11 steps with the KV cache |", r.Out);
        Assert.Contains($"machine: ", r.Out);
        Assert.Contains($", {Environment.ProcessorCount} logical cores (", r.Out);
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
