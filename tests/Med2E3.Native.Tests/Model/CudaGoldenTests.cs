using Med2E3.Native.Models.Golden;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// The golden check on CUDA in bf16 (relative L2 ≤ 2e-2 for every output, the same first greedy token). Skipped,
/// with the reason, on machines without a usable GPU and CUDA backend.
/// </summary>
public class CudaGoldenTests(ITestOutputHelper log)
{
    [Fact]
    public void GoldenCheckPassesOnCudaInBf16()
    {
        if (!CudaRuntime.IsAvailable)
        {
            Assert.Skip("no CUDA device: " + CudaRuntime.UnavailableReason);
        }
        try
        {
            ComputeDevice.EnsureUsable(Device.Cuda(0));
        }
        catch (NotSupportedException e)
        {
            Assert.Skip(e.Message);
        }
        var report = GoldenCheck.Run(ModelFixture.Fixture, "cuda");
        var text = new StringWriter();
        report.Write(text);
        log.WriteLine(text.ToString());
        Assert.Equal("bf16", report.DType);
        Assert.True(report.Passed, text.ToString());
    }
}
