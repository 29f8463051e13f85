using System.Runtime.CompilerServices;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>A theory that runs only with a CUDA device and NVRTC; otherwise it is skipped with the reason, once per
/// class (<see cref="CudaSkipSummaryDiscoverer"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
[Xunit.v3.XunitTestCaseDiscoverer(typeof(CudaSkipSummaryDiscoverer))]
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (CudaTestEnvironment.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
