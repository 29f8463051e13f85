namespace Med2E3.Native.Tests.Runtime;

/// <summary>The NVRTC skip summary counts every NVRTC test method once, so a machine without NVRTC hides none of them.</summary>
public class NvrtcSkipSummaryTests
{
    [Fact]
    public void EveryNvrtcTestMethodIsCountedInItsClassSummary()
    {
        var (declared, summarised) = new NvrtcSkipSummaryDiscoverer().Coverage(typeof(NvrtcSkipSummaryTests).Assembly);
        Assert.True(declared.Length >= 12, $"{declared.Length} NVRTC test methods");
        // A private or static test method would be missing from the summaries (and xunit would not run it either).
        Assert.Equal(declared, summarised);
    }
}
