using System.Diagnostics;
using System.Security.Cryptography;
using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Fuzz;

/// <summary>
/// What one input did: refused (exit code, exception, message, the project method that threw) or accepted (exit code 0),
/// what it allocated and how long it took, and the rule it broke (<c>Kind</c>: "exit code", "message lines",
/// "message length", "message file", "allocation", "peak memory", "time"; null when the outcome is fine) with the details.
/// </summary>
internal sealed record FuzzOutcome(int ExitCode, string? ExceptionType, string? Message, string? Where, long AllocatedBytes,
    double Seconds, string? Kind, string? Problem)
{
    /// <summary>What makes two failures the same bug: the broken rule, the exception type and where it was thrown.</summary>
    public string Signature => $"{Kind} | {ExitCode} | {ExceptionType} | {Where}";
}

/// <summary>A failing input, minimised, with what it did.</summary>
internal sealed record FuzzFailure(byte[] Input, FuzzOutcome Outcome);

/// <summary>Counts of one run of a target.</summary>
internal sealed record FuzzReport(string Target, int Tried, int Accepted, int Refused, double Seconds, long MaxAllocated,
    IReadOnlyList<FuzzFailure> Failures);

/// <summary>
/// Runs a <see cref="FuzzTarget"/>: seeded mutations of its seeds, each written into a sandbox folder and read on the
/// calling thread, and checks every outcome against the contract for files from strangers: accepted, or refused with
/// a typed exception that maps to the target's exit code (never 70), a one-line message of bounded length that names
/// a file of the sandbox, a bounded allocation (<see cref="GC.GetAllocatedBytesForCurrentThread"/> for managed arrays,
/// the process's peak resident memory for native tensor memory) and a bounded time. Failing inputs are minimised.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>Longest accepted message, paths included.</summary>
    public const int MaxMessageLength = 1000;

    /// <summary>
    /// Most the process's peak resident memory may grow during one read. Tensor memory is native, so the managed
    /// allocation counter does not see it; the peak (VmHWM) does, whichever thread allocates. Other tests run at the
    /// same time, so the bound is coarse: it catches a read that allocates gigabytes.
    /// </summary>
    public const long MaxPeakGrowth = 1L << 30;

    /// <summary>Longest accepted time for one input.</summary>
    public static readonly TimeSpan MaxSecondsPerInput = TimeSpan.FromSeconds(10);

    /// <summary>Inputs every run tries whatever the budget, so a slow or loaded machine still tests something.</summary>
    public const int MinimumInputs = 25;

    /// <summary>
    /// Runs <paramref name="iterations"/> mutated inputs, or until <paramref name="budget"/> is spent once at least
    /// <see cref="MinimumInputs"/> have run.
    /// </summary>
    public static FuzzReport Run(FuzzTarget target, int seed, int iterations, TimeSpan budget)
    {
        string sandbox = NewSandbox(target);
        try
        {
            var rng = new Random(seed);
            var failures = new Dictionary<string, FuzzFailure>();
            var clock = Stopwatch.StartNew();
            int tried = 0, accepted = 0;
            long maxAllocated = 0;
            for (; tried < iterations && (tried < MinimumInputs || clock.Elapsed < budget); tried++)
            {
                byte[] seedInput = target.Seeds[rng.Next(target.Seeds.Count)];
                byte[] input = target.Mutate(rng, seedInput);
                var outcome = Execute(target, sandbox, input);
                maxAllocated = Math.Max(maxAllocated, outcome.AllocatedBytes);
                if (outcome.Problem is null)
                {
                    if (outcome.ExitCode == 0) accepted++;
                    continue;
                }
                if (!failures.ContainsKey(outcome.Signature))
                {
                    failures[outcome.Signature] = Minimise(target, sandbox, input, outcome);
                }
            }
            return new FuzzReport(target.Name, tried, accepted, tried - accepted - failures.Count, clock.Elapsed.TotalSeconds,
                maxAllocated, [.. failures.Values]);
        }
        finally
        {
            try { Directory.Delete(sandbox, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A fresh sandbox folder with the target's setup done.</summary>
    public static string NewSandbox(FuzzTarget target)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"med2e3-fuzz-{target.Name}-{Guid.NewGuid():N}"[..(20 + target.Name.Length)]);
        Directory.CreateDirectory(dir);
        target.Setup(dir);
        return dir;
    }

    /// <summary>Writes <paramref name="input"/> into the sandbox, reads it and checks the outcome.</summary>
    public static FuzzOutcome Execute(FuzzTarget target, string sandbox, byte[] input)
    {
        string path = Path.Combine(sandbox, target.InputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, target.Encode(input));
        long before = GC.GetAllocatedBytesForCurrentThread();
        long peakBefore = PeakResidentBytes();
        var clock = Stopwatch.StartNew();
        Exception? error = null;
        try
        {
            target.Read(sandbox, path);
        }
        catch (Exception e)
        {
            error = e;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long peakGrowth = PeakResidentBytes() - peakBefore;

        string? problem = null, kind = null;
        int code = 0;
        string? message = null, type = null, where = null;
        if (error is not null)
        {
            (code, _) = Failure.Classify(error);
            message = error.Message;
            type = error.GetType().Name;
            where = new StackTrace(error).GetFrames().FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("Med2E3") == true)
                ?.GetMethod() is { } m ? $"{m.DeclaringType?.Name}.{m.Name}" : null;
            if (code != target.RefusedExitCode)
                (kind, problem) = ("exit code", $"exit {code}: {type}: {Cut(message)}");
            else if (message.Contains('\n') || message.Contains('\r'))
                (kind, problem) = ("message lines", $"message spans lines: {Cut(message)}");
            else if (message.Length > MaxMessageLength)
                (kind, problem) = ("message length", $"message of {message.Length} characters: {Cut(message)}");
            else if (!message.Contains(sandbox, StringComparison.Ordinal))
                (kind, problem) = ("message file", $"message names no file: {Cut(message)}");
        }
        if (problem is null && allocated > target.AllocationBudget)
            (kind, problem) = ("allocation",
                $"allocated {allocated} bytes (budget {target.AllocationBudget}){(message is null ? "" : ": " + Cut(message))}");
        if (problem is null && peakGrowth > MaxPeakGrowth)
            (kind, problem) = ("peak memory", $"the process's peak resident memory grew by {peakGrowth >> 20} MiB");
        if (problem is null && seconds > MaxSecondsPerInput.TotalSeconds)
            (kind, problem) = ("time", $"slow: {seconds:0.0} s");
        return new FuzzOutcome(code, type, message, where, allocated, seconds, kind, problem);
    }

    static string Cut(string s) => s.Length <= 300 ? s : s[..300] + "…";

    /// <summary>The process's peak resident set (VmHWM of /proc/self/status), or 0 where there is none.</summary>
    static long PeakResidentBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }

    /// <summary>
    /// Shrinks a failing input while it still fails the same way: removes chunks (halves down to single bytes), at most
    /// a few hundred reads.
    /// </summary>
    static FuzzFailure Minimise(FuzzTarget target, string sandbox, byte[] input, FuzzOutcome outcome)
    {
        string signature = outcome.Signature;
        byte[] best = input;
        FuzzOutcome bestOutcome = outcome;
        int reads = 0;
        for (int chunk = Math.Max(1, best.Length / 2); chunk >= 1 && reads < 400; chunk /= 2)
        {
            for (int start = 0; start < best.Length && reads < 400;)
            {
                byte[] candidate = [.. best[..start], .. best[Math.Min(best.Length, start + chunk)..]];
                reads++;
                var o = Execute(target, sandbox, candidate);
                if (o.Problem is not null && o.Signature == signature)
                {
                    best = candidate;
                    bestOutcome = o;
                }
                else
                {
                    start += chunk;
                }
            }
        }
        return new FuzzFailure(best, bestOutcome);
    }

    /// <summary>Saves failures under <paramref name="folder"/>/target/ (for building the corpus); returns the paths.</summary>
    public static IEnumerable<string> Save(FuzzReport report, string folder)
    {
        string dir = Path.Combine(folder, report.Target);
        Directory.CreateDirectory(dir);
        foreach (var f in report.Failures)
        {
            string hash = Convert.ToHexString(SHA256.HashData(f.Input))[..12].ToLowerInvariant();
            string path = Path.Combine(dir, hash + ".bin");
            File.WriteAllBytes(path, f.Input);
            File.WriteAllText(path + ".txt", $"{f.Outcome.Signature}\n{f.Outcome.Problem}\n");
            yield return path;
        }
    }
}
