using System.Runtime.CompilerServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>A fact that needs the NVRTC library (no GPU); without it, it is skipped with the reason, once per class
/// (<see cref="NvrtcSkipSummaryDiscoverer"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
[Xunit.v3.XunitTestCaseDiscoverer(typeof(NvrtcSkipSummaryDiscoverer))]
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (NvrtcSkipSummaryDiscoverer.Reason is { } reason)
        {
            Skip = reason;
        }
    }
}
