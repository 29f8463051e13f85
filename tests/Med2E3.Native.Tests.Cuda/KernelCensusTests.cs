using Med2E3.Native.Runtime;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(Med2E3.Native.Tests.Cuda.CensusLast))]

namespace Med2E3.Native.Tests.Cuda;

/// <summary>
/// The kernel census: after every other test of the suite has run, each <c>extern "C" __global__</c> kernel of
/// <c>kernels/*.cu</c> must have been launched at least once (<see cref="KernelCensus"/>), apart from the exceptions
/// listed with their reason. The table of launch counts goes to the test output and, when
/// <c>MED2E3_KERNEL_CENSUS</c> names a file, to that file (CI prints it). Meaningful only for a run of the whole
/// suite; <see cref="CensusLast"/> orders it after the other tests.
/// </summary>
[Collection(Name)]
public class KernelCensusTests(ITestOutputHelper log)
{
    public const string Name = "Kernel census";

    /// <summary>Kernels deliberately not launched by the suite, with the reason.</summary>
    public static readonly IReadOnlyDictionary<string, string> Exceptions = new Dictionary<string, string>();

    [CudaFact]
    public void EveryKernelIsLaunchedByTheSuite()
    {
        var rows = new List<(string File, string Kernel, long Launches)>();
        foreach (string file in KernelSources.Files)
        {
            foreach (string kernel in KernelHeader.Parse(file, KernelSources.Read(file)).GlobalFunctions)
            {
                rows.Add((file, kernel, KernelCensus.Launches(file, kernel)));
            }
        }

        var text = new System.Text.StringBuilder();
        text.AppendLine($"kernel census: {rows.Count(r => r.Launches > 0)} of {rows.Count} kernels launched");
        text.AppendLine("| file | kernel | launches |");
        text.AppendLine("|---|---|---:|");
        foreach (var (file, kernel, launches) in rows)
        {
            string note = launches == 0 && Exceptions.TryGetValue(kernel, out string? why) ? $" (not launched: {why})" : "";
            text.AppendLine($"| {file} | {kernel} | {launches}{note} |");
        }

        log.WriteLine(text.ToString());
        if (Environment.GetEnvironmentVariable("MED2E3_KERNEL_CENSUS") is { Length: > 0 } path)
        {
            File.WriteAllText(path, text.ToString());
        }

        string[] missing = [.. rows.Where(r => r.Launches == 0 && !Exceptions.ContainsKey(r.Kernel)).Select(r => $"{r.File}: {r.Kernel}")];
        Assert.True(missing.Length == 0,
            $"{missing.Length} kernel(s) never launched by the suite (run all of it, or add a test):\n  " + string.Join("\n  ", missing));
        string[] stale = [.. Exceptions.Keys.Where(k => rows.Any(r => r.Kernel == k && r.Launches > 0))];
        Assert.True(stale.Length == 0, "listed as exceptions but launched: " + string.Join(", ", stale));
    }
}

[CollectionDefinition(KernelCensusTests.Name, DisableParallelization = true)]
public sealed class KernelCensusCollection;

/// <summary>Runs the test collections in their usual order, with the kernel census last.</summary>
public sealed class CensusLast : ITestCollectionOrderer
{
    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(
        IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : ITestCollection =>
        [.. testCollections.OrderBy(c => c.TestCollectionDisplayName == KernelCensusTests.Name ? 1 : 0)];
}
