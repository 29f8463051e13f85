using System.Globalization;

namespace Med2E3.Native.Tests.Fuzz;

/// <summary>
/// A seeded, time-bounded mutation run over every reader (<see cref="FuzzTargets.All"/>): each mutated input must be
/// accepted or refused cleanly (typed exception → the target's exit code, one bounded line naming the file, bounded
/// allocation and time). Environment: <c>MED2E3_FUZZ_SEED</c> (default 20240610), <c>MED2E3_FUZZ_SCALE</c> (multiplies
/// each target's input count, default 1), <c>MED2E3_FUZZ_SECONDS</c> (time cap per target, default 4: the 25 targets stay under two minutes),
/// <c>MED2E3_FUZZ_SAVE</c> (folder to save minimised failures to, for the corpus).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void MutatedInputsAreAcceptedOrRefusedCleanly(string name)
    {
        FuzzTarget target = FuzzTargets.Get(name);
        int seed = Setting("MED2E3_FUZZ_SEED", 20240610) ^ StableHash(name);
        int count = (int)Math.Ceiling(target.Iterations * Setting("MED2E3_FUZZ_SCALE", 1.0));
        var budget = TimeSpan.FromSeconds(Setting("MED2E3_FUZZ_SECONDS", 4.0));
        FuzzReport report = FuzzRunner.Run(target, seed, count, budget);
        output.WriteLine($"{name}: {report.Tried} mutated inputs in {report.Seconds:0.0} s (seed {seed}): {report.Accepted} accepted, "
            + $"{report.Refused} refused, {report.Failures.Count} failure(s); most allocated by one read: "
            + $"{report.MaxAllocated / 1024.0 / 1024.0:0.0} MiB");
        if (Environment.GetEnvironmentVariable("MED2E3_FUZZ_SAVE") is { Length: > 0 } save)
        {
            foreach (string path in FuzzRunner.Save(report, save)) output.WriteLine($"  saved {path}");
        }
        foreach (FuzzFailure f in report.Failures)
            output.WriteLine($"  FAIL [{f.Outcome.Signature}] {f.Outcome.Problem} ({f.Input.Length}-byte input)");
        Assert.True(report.Failures.Count == 0,
            $"{name}: {report.Failures.Count} failure(s): " + string.Join(" || ", report.Failures.Select(f => f.Outcome.Problem)));
        Assert.True(report.Tried >= Math.Min(count, FuzzRunner.MinimumInputs), $"{name}: only {report.Tried} inputs tried");
    }

    static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)h;
    }

    static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

    static double Setting(string name, double fallback) =>
        double.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : fallback;
}
