using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cuda.Cli;

/// <summary>Runs the <c>med2e3</c> command in-process, and finds the repository's test data.</summary>
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

    /// <summary>The repository root (the folder holding Med2E3.Native.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The tiny golden fixture, <c>tests/data/med2e3-tiny</c>.</summary>
    public static string Fixture => Path.Combine(RepoRoot, "tests", "data", "med2e3-tiny");

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Med2E3.Native.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no Med2E3.Native.sln above {AppContext.BaseDirectory}");
    }
}
