using Med2E3.Native.Models.Golden;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 golden-check --fixture DIR [--device cpu|cuda] [--precision f32|bf16]</c>: runs the whole network on a golden fixture and prints
/// one row per comparison (tokenizer vectors, every output.* tensor, the greedy ids, every gradient).
/// </summary>
public static class GoldenCheckCommand
{
    /// <summary>
    /// Runs the check and writes the table to <paramref name="output"/>. Returns <see cref="ExitCodes.Ok"/> when every
    /// row passed, <see cref="ExitCodes.CheckFailed"/> otherwise. An incomplete fixture throws
    /// <see cref="GoldenFixtureException"/>; a bad checkpoint throws the checkpoint exceptions. In
    /// <see cref="Ops.Cpu.CpuPrecision.Bf16"/> the bf16 tolerances apply, with the same greedy ids.
    /// </summary>
    public static int Run(string fixtureDir, string device, TextWriter output,
        Ops.Cpu.CpuPrecision precision = Ops.Cpu.CpuPrecision.F32)
    {
        var report = GoldenCheck.Run(fixtureDir, device,
            new Models.Multimodal.Med2E3LoadOptions { Precision = precision });
        report.Write(output);
        return report.Passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
