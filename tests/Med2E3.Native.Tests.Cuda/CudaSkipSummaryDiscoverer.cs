using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>
/// Discovers <see cref="CudaFactAttribute"/> and <see cref="CudaTheoryAttribute"/> tests. With a usable device it is
/// the ordinary fact or theory discovery. Without one, a class's GPU tests become a single skipped test case named
/// after the class and the number of GPU test methods it holds ("CublasTests: 6 GPU test methods"), carrying the
/// reason once, instead of one skip notice per test and data row.
/// </summary>
public sealed class CudaSkipSummaryDiscoverer : IXunitTestCaseDiscoverer
{
    private static readonly FactDiscoverer Facts = new();
    private static readonly TheoryDiscoverer Theories = new();

    public ValueTask<IReadOnlyCollection<IXunitTestCase>> Discover(
        ITestFrameworkDiscoveryOptions discoveryOptions, IXunitTestMethod testMethod, IFactAttribute factAttribute)
    {
        if (CudaTestEnvironment.SkipReason is not { } reason)
        {
            return factAttribute is ITheoryAttribute
                ? Theories.Discover(discoveryOptions, testMethod, factAttribute)
                : Facts.Discover(discoveryOptions, testMethod, factAttribute);
        }

        MethodInfo[] gpuMethods = GpuMethods(testMethod.TestClass.Class);
        if (gpuMethods.Length == 0 || gpuMethods[0] != testMethod.Method)
        {
            return new([]);
        }

        string display = $"{testMethod.TestClass.Class.FullName}: {gpuMethods.Length} GPU test method{(gpuMethods.Length == 1 ? "" : "s")}";
        var details = TestIntrospectionHelper.GetTestCaseDetails(discoveryOptions, testMethod, factAttribute,
            baseDisplayName: display);
        IXunitTestCase summary = new XunitTestCase(
            details.ResolvedTestMethod,
            display,
            details.UniqueID,
            details.Explicit,
            skipExceptions: null,
            skipReason: reason,
            skipType: null,
            skipUnless: null,
            skipWhen: null,
            testMethod.Traits.ToDictionary(t => t.Key, t => t.Value.ToHashSet(StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase),
            testMethodArguments: null,
            details.SourceFilePath,
            details.SourceLineNumber,
            details.Timeout);
        return new([summary]);
    }

    /// <summary>The class's GPU test methods (public instance methods with a CUDA attribute), in declaration order.</summary>
    internal static MethodInfo[] GpuMethods(Type testClass) =>
        [.. testClass.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.IsDefined(typeof(CudaFactAttribute), inherit: true) || m.IsDefined(typeof(CudaTheoryAttribute), inherit: true))
            .OrderBy(m => m.MetadataToken)];
}
