using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

namespace Med2E3.Native.Tests.Shared.SkipSummary;

/// <summary>
/// Discovers the tests of an attribute that needs something of the machine (a GPU, NVRTC). When it is there, this is
/// the ordinary fact or theory discovery. When it is not, a class's tests with such attributes become a single
/// skipped test case named after the class and how many test methods it holds ("CublasTests: 6 GPU test methods"),
/// carrying the reason once, instead of one skip notice per test and data row.
/// </summary>
public abstract class SkipSummaryDiscoverer : IXunitTestCaseDiscoverer
{
    private static readonly FactDiscoverer Facts = new();
    private static readonly TheoryDiscoverer Theories = new();

    /// <summary>Why the tests cannot run here; null when they can.</summary>
    protected abstract string? SkipReason { get; }

    /// <summary>What the tests need, for the summary's name ("GPU", "NVRTC").</summary>
    protected abstract string Requirement { get; }

    /// <summary>The attribute types this discoverer serves (a fact and a theory).</summary>
    protected abstract IReadOnlyList<Type> AttributeTypes { get; }

    public ValueTask<IReadOnlyCollection<IXunitTestCase>> Discover(
        ITestFrameworkDiscoveryOptions discoveryOptions, IXunitTestMethod testMethod, IFactAttribute factAttribute)
    {
        if (SkipReason is not { } reason)
        {
            return factAttribute is ITheoryAttribute
                ? Theories.Discover(discoveryOptions, testMethod, factAttribute)
                : Facts.Discover(discoveryOptions, testMethod, factAttribute);
        }

        MethodInfo[] methods = Methods(testMethod.TestClass.Class);
        if (methods.Length == 0 || methods[0] != testMethod.Method)
        {
            return new([]);
        }

        string display = $"{testMethod.TestClass.Class.FullName}: {methods.Length} {Requirement} test method{(methods.Length == 1 ? "" : "s")}";
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

    /// <summary>
    /// Every method of <paramref name="assembly"/> with one of <see cref="AttributeTypes"/> (any visibility, static
    /// or not), and those the summaries count; the two lists differ when a test would be hidden from both xunit and
    /// the summary (a private or static test method). Names are "Type.Method", sorted.
    /// </summary>
    public (string[] Declared, string[] Summarised) Coverage(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static
                                 | BindingFlags.DeclaredOnly;
        Type[] types = assembly.GetTypes();
        static string Name(MethodInfo m) => $"{m.DeclaringType!.FullName}.{m.Name}";
        string[] declared = [.. types.SelectMany(t => t.GetMethods(all))
            .Where(m => AttributeTypes.Any(a => m.IsDefined(a, inherit: true))).Select(Name).Order()];
        string[] summarised = [.. types.Where(t => t is { IsClass: true, IsAbstract: false }).SelectMany(Methods).Select(Name).Order()];
        return (declared, summarised);
    }

    /// <summary>The class's test methods with one of <see cref="AttributeTypes"/> (public instance methods, as xunit
    /// runs them), in declaration order.</summary>
    public MethodInfo[] Methods(Type testClass) =>
        [.. testClass.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => AttributeTypes.Any(a => m.IsDefined(a, inherit: true)))
            .OrderBy(m => m.MetadataToken)];
}
