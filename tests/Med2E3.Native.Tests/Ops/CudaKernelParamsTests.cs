using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Ops;

/// <summary>
/// The C# mirrors in <c>Cuda/KernelParams.cs</c> against the <c>static_assert(sizeof(…))</c> of their .cu structs, and
/// the kernel names the CUDA backend launches against the <c>extern "C"</c> definitions. Runs without a GPU.
/// </summary>
public partial class CudaKernelParamsTests
{
    private static readonly Lazy<Dictionary<string, int>> CSizes = new(() =>
    {
        var sizes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string file in KernelSources.Files)
            foreach (Match m in SizeAssert().Matches(KernelSources.Read(file)))
                sizes[m.Groups["name"].Value] = int.Parse(m.Groups["size"].Value, CultureInfo.InvariantCulture);
        return sizes;
    });

    private static readonly Lazy<HashSet<string>> Kernels = new(() =>
        KernelSources.Files
            .SelectMany(f => ExternC().Matches(KernelSources.Read(f)).Select(m => m.Groups["name"].Value))
            .ToHashSet(StringComparer.Ordinal));

    private static IEnumerable<string> Mirrors =>
        typeof(KernelParams).GetNestedTypes(System.Reflection.BindingFlags.NonPublic).Select(t => t.Name);

    public static TheoryData<string> MirrorNames() => new(Mirrors);

    [Theory]
    [MemberData(nameof(MirrorNames))]
    public void MirrorSizeMatchesStaticAssert(string name)
    {
        Type type = typeof(KernelParams).GetNestedType(name, System.Reflection.BindingFlags.NonPublic)!;
        Assert.True(CSizes.Value.TryGetValue(name, out int expected),
            $"no static_assert(sizeof({name}) == …) in kernels/*.cu");
        int actual = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void EveryParamsStructOfTheKernelsHasAMirror()
    {
        var mirrors = Mirrors.ToHashSet(StringComparer.Ordinal);
        string[] missing = CSizes.Value.Keys.Where(k => !mirrors.Contains(k)).ToArray();
        Assert.True(missing.Length == 0, $"params structs without a C# mirror: {string.Join(", ", missing)}");
    }

    [Fact]
    public void RegisteredVariantsExistInBothDtypes()
    {
        foreach (string name in CudaVariants.KernelNames)
        {
            Assert.True(Kernels.Value.Contains(name), $"{name} is registered but no kernels/*.cu defines it");
            // reduce.cu's and elementwise.cu's teaching variants exist in f32 only.
            bool hasTwin = !name.StartsWith("sum_fwd_f32_v", StringComparison.Ordinal)
                && !name.StartsWith("add_fwd_f32_v", StringComparison.Ordinal);
            if (name.EndsWith("_f32", StringComparison.Ordinal) && hasTwin)
            {
                string bf16 = name[..^4] + "_bf16";
                Assert.True(Kernels.Value.Contains(bf16), $"{name} has no bf16 twin {bf16}");
            }
        }
    }

    [GeneratedRegex(@"static_assert\(sizeof\((?<name>\w+)\)\s*==\s*(?<size>\d+)")]
    private static partial Regex SizeAssert();

    [GeneratedRegex(@"extern ""C"" __global__ void (?:__launch_bounds__\([^)]*\) )?(?<name>\w+)\(")]
    private static partial Regex ExternC();
}
