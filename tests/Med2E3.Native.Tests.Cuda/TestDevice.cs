using Med2E3.Native.Runtime;

[assembly: AssemblyFixture(typeof(Med2E3.Native.Tests.Cuda.TestDevice))]
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace Med2E3.Native.Tests.Cuda;

/// <summary>
/// One device for the whole test run, opened on first use and disposed at the end. GPU tests run one at a time so
/// that timings and pool statistics are not disturbed by other tests.
/// </summary>
public sealed class TestDevice : IDisposable
{
    private readonly Lazy<CudaDevice> _device = new(() => CudaDevice.Open(0));

    /// <summary>Device 0.</summary>
    public CudaDevice Device => _device.Value;

    /// <summary>The device's main stream.</summary>
    public CudaStream Stream => Device.Stream;

    public void Dispose()
    {
        if (_device.IsValueCreated)
        {
            _device.Value.Dispose();
        }
    }
}
