using Med2E3.Native.Runtime;
using Med2E3.Native.Tests.Shared.SkipSummary;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>Without NVRTC, each class's <see cref="NvrtcFactAttribute"/> and <see cref="NvrtcTheoryAttribute"/> tests
/// are one skipped summary case (<see cref="SkipSummaryDiscoverer"/>).</summary>
public sealed class NvrtcSkipSummaryDiscoverer : SkipSummaryDiscoverer
{
    /// <summary>Why NVRTC tests cannot run here; null when NVRTC is available.</summary>
    public static string? Reason => NvrtcRuntime.IsAvailable ? null : $"NVRTC is not available: {NvrtcRuntime.UnavailableReason}";

    protected override string? SkipReason => Reason;

    protected override string Requirement => "NVRTC";

    protected override IReadOnlyList<Type> AttributeTypes { get; } = [typeof(NvrtcFactAttribute), typeof(NvrtcTheoryAttribute)];
}
