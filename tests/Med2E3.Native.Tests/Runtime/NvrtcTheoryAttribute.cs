using System.Runtime.CompilerServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>A theory that needs the NVRTC library (no GPU); without it, it is skipped with the reason, once per class
/// (<see cref="NvrtcSkipSummaryDiscoverer"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
[Xunit.v3.XunitTestCaseDiscoverer(typeof(NvrtcSkipSummaryDiscoverer))]
public sealed class NvrtcTheoryAttribute : TheoryAttribute
{
    public NvrtcTheoryAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (NvrtcSkipSummaryDiscoverer.Reason is { } reason)
        {
            Skip = reason;
        }
    }
}
