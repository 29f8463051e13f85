using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cuda.Cli;

/// <summary>Runs the <c>med2e3</c> command in-process, and finds the test data.</summary>
internal static class CliRun
{
    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    public static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The tiny golden fixture (tests/data/med2e3-tiny), copied beside the test assembly by the build.</summary>
    public static string Fixture { get; } = Path.Combine(AppContext.BaseDirectory, "data", "med2e3-tiny");
}
