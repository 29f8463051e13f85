using System.CommandLine;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 bench</c>: times the stages of the demo pipeline (load, read volume, encode, prefill, decode) and
/// points to <c>med2e3-bench</c> for per-op benchmarks.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var runs = CommonOptions.PositiveInt("--runs", "How many timed runs after one warm-up run (default 5)");
        var device = CommonOptions.Device("cpu");
        var json = CommonOptions.Json();
        var command = new Command("bench", "Time each stage of the demo pipeline; per-op benchmarks live in med2e3-bench")
        {
            runs, device, json,
        };
        command.SetAction(int (ParseResult parse) =>
        {
            DeviceChoice.Resolve(parse.GetValue(device) ?? "cpu");
            throw CliException.NotAvailable(
                "bench times the demo pipeline, which needs the Med-2E3 network (Med2E3Model), not in this build yet; "
                + "per-op benchmarks: dotnet run -c Release --project benchmarks/Med2E3.Native.Benchmarks");
        });
        return command;
    }
}
