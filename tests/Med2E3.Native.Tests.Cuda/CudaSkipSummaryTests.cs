namespace Med2E3.Native.Tests.Cuda;

/// <summary>The skip summary counts every GPU test method once, so a machine without a GPU hides none of them.</summary>
public class CudaSkipSummaryTests
{
    [Fact]
    public void EveryGpuTestMethodIsCountedInItsClassSummary()
    {
        var (declared, summarised) = new CudaSkipSummaryDiscoverer().Coverage(typeof(CudaSkipSummaryTests).Assembly);
        Assert.NotEmpty(declared);
        // A private or static test method would be missing from the summaries (and xunit would not run it either).
        Assert.Equal(declared, summarised);
    }
}
