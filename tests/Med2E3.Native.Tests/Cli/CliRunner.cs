using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cli;

/// <summary>Runs the <c>med2e3</c> command tree in-process and captures what it prints.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Out, string Err)
    {
        /// <summary>stderr's lines, without blanks.</summary>
        public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

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

    public static string FixtureDir => Path.Combine(RepoRoot, "tests", "data", "med2e3-tiny");

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Med2E3.Native.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Med2E3.Native.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>A fresh empty folder under the temp folder, deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "med2e3-test-" + Guid.NewGuid().ToString("N"));

        public TempDir() => Directory.CreateDirectory(Path);

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
