using Med2E3.Native.Tests.Shared.SkipSummary;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>Without a usable device, each class's <see cref="CudaFactAttribute"/> and <see cref="CudaTheoryAttribute"/>
/// tests are one skipped summary case (<see cref="SkipSummaryDiscoverer"/>).</summary>
public sealed class CudaSkipSummaryDiscoverer : SkipSummaryDiscoverer
{
    protected override string? SkipReason => CudaTestEnvironment.SkipReason;

    protected override string Requirement => "GPU";

    protected override IReadOnlyList<Type> AttributeTypes { get; } = [typeof(CudaFactAttribute), typeof(CudaTheoryAttribute)];
}
