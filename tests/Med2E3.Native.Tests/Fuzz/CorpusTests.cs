using System.Text.Json;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Fuzz;

/// <summary>The sandbox folders of the corpus cases, one per target, made once and deleted at the end.</summary>
public sealed class CorpusSandboxes : IDisposable
{
    readonly Dictionary<string, string> byTarget = [];

    internal string For(FuzzTarget target)
    {
        lock (byTarget)
        {
            if (!byTarget.TryGetValue(target.Name, out string? dir))
                byTarget[target.Name] = dir = FuzzRunner.NewSandbox(target);
            return dir;
        }
    }

    public void Dispose()
    {
        foreach (string dir in byTarget.Values)
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>
/// The corpus of minimised inputs that failed before (<c>Fuzz/Corpus/cases.json</c>: the target, the file, the exit
/// code it must give now, and what it did before): each must give its exit code, with a bounded one-line message
/// naming the file, a bounded allocation and time — the same checks as <see cref="FuzzTests"/>.
/// </summary>
public class CorpusTests(CorpusSandboxes sandboxes, ITestOutputHelper log) : IClassFixture<CorpusSandboxes>
{
    static string Folder => Path.Combine(CliRunner.RepoRoot, "tests", "Med2E3.Native.Tests", "Fuzz", "Corpus");

    sealed record Case(string Target, string File, int Exit, string Before);

    static readonly Lazy<Dictionary<string, Case>> Cases = new(() =>
        JsonSerializer.Deserialize<List<Case>>(File.ReadAllText(Path.Combine(Folder, "cases.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!
            .ToDictionary(c => c.File));

    public static TheoryData<string> Files => new(Cases.Value.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Files))]
    public void ACorpusCaseGivesItsExitCodeCleanly(string file)
    {
        Case c = Cases.Value[file];
        FuzzTarget target = FuzzTargets.Get(c.Target);
        byte[] input = File.ReadAllBytes(Path.Combine(Folder, file));
        FuzzOutcome outcome = FuzzRunner.Execute(target, sandboxes.For(target), input);
        log.WriteLine($"before: {c.Before}");
        log.WriteLine($"now:    exit {outcome.ExitCode}: {outcome.Message} ({outcome.AllocatedBytes / 1024} KiB, {outcome.Seconds * 1000:0} ms)");
        Assert.True(outcome.Problem is null, outcome.Problem);
        Assert.Equal(c.Exit, outcome.ExitCode);
    }

    [Fact]
    public void EveryCorpusFileIsACase()
    {
        var files = Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Folder, f).Replace('\\', '/'))
            .Where(f => f != "cases.json" && f != "README.md");
        Assert.Empty(files.Except(Cases.Value.Keys));
        Assert.All(Cases.Value.Values, c => Assert.Contains(c.Target, FuzzTargets.All.Select(t => t.Name)));
    }
}
