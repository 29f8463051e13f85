using System.Reflection;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>The skip summary counts every GPU test method once, so a machine without a GPU hides none of them.</summary>
public class CudaSkipSummaryTests
{
    [Fact]
    public void EveryGpuTestMethodIsCountedInItsClassSummary()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static
                                 | BindingFlags.DeclaredOnly;
        Type[] types = typeof(CudaSkipSummaryTests).Assembly.GetTypes();
        MethodInfo[] declared = [.. types.SelectMany(t => t.GetMethods(all))
            .Where(m => m.IsDefined(typeof(CudaFactAttribute)) || m.IsDefined(typeof(CudaTheoryAttribute)))];
        MethodInfo[] summarised = [.. types.Where(t => t is { IsClass: true, IsAbstract: false })
            .SelectMany(new CudaSkipSummaryDiscoverer().Methods)];

        Assert.NotEmpty(declared);
        // A private or static GPU test would be missing from the summaries (and xunit would not run it either).
        Assert.Equal(declared.Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").Order(),
            summarised.Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").Order());
    }
}
