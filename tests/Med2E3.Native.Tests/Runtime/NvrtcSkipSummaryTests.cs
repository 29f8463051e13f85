using System.Reflection;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The NVRTC skip summary counts every NVRTC test method once, so a machine without NVRTC hides none of them.</summary>
public class NvrtcSkipSummaryTests
{
    [Fact]
    public void EveryNvrtcTestMethodIsCountedInItsClassSummary()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static
                                 | BindingFlags.DeclaredOnly;
        Type[] types = typeof(NvrtcSkipSummaryTests).Assembly.GetTypes();
        MethodInfo[] declared = [.. types.SelectMany(t => t.GetMethods(all))
            .Where(m => m.IsDefined(typeof(NvrtcFactAttribute)) || m.IsDefined(typeof(NvrtcTheoryAttribute)))];
        MethodInfo[] summarised = [.. types.Where(t => t is { IsClass: true, IsAbstract: false })
            .SelectMany(new NvrtcSkipSummaryDiscoverer().Methods)];

        Assert.True(declared.Length >= 12, $"{declared.Length} NVRTC test methods");
        Assert.Equal(declared.Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").Order(),
            summarised.Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").Order());
    }
}
