using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The kernel header lint (STYLE §2): every .cu has every field, and defines: matches the body.</summary>
public class KernelHeaderTests
{
    public static TheoryData<string> Files() => new(KernelSources.Files);

    [Fact]
    public void TheFoundationKernelFilesAreEmbedded()
    {
        Assert.Contains("elementwise.cu", KernelSources.Files);
        Assert.Contains("reduce.cu", KernelSources.Files);
        Assert.Contains("common.cuh", KernelSources.Headers.Keys);
        Assert.Contains("--std=c++17", KernelSources.Flags);
        Assert.DoesNotContain("--use_fast_math", KernelSources.Flags);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryKernelFileHasACompleteHeaderMatchingItsBody(string file)
    {
        KernelHeader header = KernelHeader.Parse(file, KernelSources.Read(file));
        Assert.True(header.Problems.Count == 0, string.Join("\n", header.Problems));
        Assert.NotEmpty(header.Defines);
        foreach (string field in KernelHeader.RequiredFields)
        {
            Assert.False(string.IsNullOrWhiteSpace(header.Fields[field]), $"{file}: {field} is empty");
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void KernelFilesIncludeNoToolkitHeader(string file)
    {
        // NVRTC 11.8+ must compile the files as they are: only common.cuh may be included.
        foreach (string line in KernelSources.Read(file).Split('\n').Where(l => l.TrimStart().StartsWith("#include", StringComparison.Ordinal)))
        {
            Assert.Equal("#include \"common.cuh\"", line.Trim());
        }
    }

    private const string Good = """
        // demo.cu — a demo.
        //
        // defines:  demo_fwd_f32_v1, demo_fwd_f32_v2 (default), demo_bwd_f32
        // math:     y = x
        // shapes:   x, y (n)
        // launch:   grid ceil_div(n, 256) block 256
        // floor:    memory-bound
        // variants: v1 teaching; v2 default
        // ref:      Ops/Demo.cs
        // verify:   dotnet test
        #include "common.cuh"
        extern "C" __global__ void demo_fwd_f32_v1(const float* x, float* y) {}
        extern "C" __global__ void __launch_bounds__(256) demo_fwd_f32_v2(const float* x, float* y) {}
        extern "C" __global__ void demo_bwd_f32(const float* x, float* y) {}
        """;

    [Fact]
    public void AGoodHeaderParsesWithDefaults()
    {
        KernelHeader h = KernelHeader.Parse("demo.cu", Good);
        Assert.Empty(h.Problems);
        Assert.Equal(["demo_fwd_f32_v1", "demo_fwd_f32_v2", "demo_bwd_f32"], h.Defines);
        Assert.False(h.IsDefault("demo_fwd_f32_v1"));
        Assert.True(h.IsDefault("demo_fwd_f32_v2"));
        Assert.True(h.IsDefault("demo_bwd_f32"));
    }

    // A header in the form of Good with the given defines: line, and one empty kernel per name.
    private static KernelHeader WithDefines(string defines)
    {
        string source = Good.Replace("demo_fwd_f32_v1, demo_fwd_f32_v2 (default), demo_bwd_f32", defines, StringComparison.Ordinal);
        source = source[..source.IndexOf("extern", StringComparison.Ordinal)];
        foreach (string name in defines.Split(", ").Select(d => d.Replace(" (default)", "", StringComparison.Ordinal)))
        {
            source += $"extern \"C\" __global__ void {name}(const float* x, float* y) {{}}\n";
        }

        return KernelHeader.Parse("demo.cu", source);
    }

    [Fact]
    public void AnUnsuffixedKernelIsTheDefaultOfItsVariants()
    {
        // demo_fwd_f32 is what the registry launches; the variants beside it are not defaults, one or several.
        KernelHeader h = WithDefines("demo_fwd_f32, demo_fwd_f32_v2, demo_fwd_f32_v3, demo_bwd_f32_v2");
        Assert.True(h.Problems.Count == 0, string.Join("\n", h.Problems));
        Assert.True(h.IsDefault("demo_fwd_f32"));
        Assert.False(h.IsDefault("demo_fwd_f32_v2"));
        Assert.False(h.IsDefault("demo_fwd_f32_v3"));
        Assert.True(h.IsDefault("demo_bwd_f32_v2"));  // the only kernel of its family

        KernelHeader one = WithDefines("demo_fwd_f32 (default), demo_fwd_f32_v2");
        Assert.True(one.Problems.Count == 0, string.Join("\n", one.Problems));
        Assert.False(one.IsDefault("demo_fwd_f32_v2"));

        // A variant marked (default) takes the place of the unsuffixed kernel.
        KernelHeader marked = WithDefines("demo_fwd_f32, demo_fwd_f32_v2 (default), demo_fwd_f32_v3");
        Assert.True(marked.Problems.Count == 0, string.Join("\n", marked.Problems));
        Assert.False(marked.IsDefault("demo_fwd_f32"));
        Assert.True(marked.IsDefault("demo_fwd_f32_v2"));

        KernelHeader two = WithDefines("demo_fwd_f32 (default), demo_fwd_f32_v2 (default)");
        Assert.Contains(two.Problems, p => p.Contains("must mark exactly one (default)", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingFieldIsReported()
    {
        KernelHeader h = KernelHeader.Parse("demo.cu", Good.Replace("// floor:    memory-bound\n", "", StringComparison.Ordinal));
        Assert.Contains("demo.cu: header field 'floor:' is missing", h.Problems);
    }

    [Fact]
    public void DefinedNameWithoutKernelIsReported()
    {
        KernelHeader h = KernelHeader.Parse("demo.cu", Good.Replace("demo_bwd_f32(", "demo_bwd_bf16(", StringComparison.Ordinal));
        Assert.Contains("demo.cu: defines: lists demo_bwd_f32, but there is no extern \"C\" __global__ demo_bwd_f32", h.Problems);
        Assert.Contains("demo.cu: extern \"C\" __global__ demo_bwd_bf16 is not listed in defines:", h.Problems);
    }

    [Fact]
    public void NonExternCGlobalAndMissingDefaultAreReported()
    {
        string source = Good
            .Replace("extern \"C\" __global__ void demo_bwd_f32", "__global__ void demo_bwd_f32", StringComparison.Ordinal)
            .Replace(" (default)", "", StringComparison.Ordinal);
        KernelHeader h = KernelHeader.Parse("demo.cu", source);
        Assert.Contains("demo.cu: __global__ demo_bwd_f32 must be declared extern \"C\"", h.Problems);
        Assert.Contains(h.Problems, p => p.Contains("must mark exactly one (default)", StringComparison.Ordinal));
    }

    [Fact]
    public void FieldsOutOfOrderAndWrongTitleAreReported()
    {
        string source = Good
            .Replace("// demo.cu — a demo.", "// a demo", StringComparison.Ordinal)
            .Replace("// math:     y = x\n// shapes:   x, y (n)", "// shapes:   x, y (n)\n// math:     y = x", StringComparison.Ordinal);
        KernelHeader h = KernelHeader.Parse("demo.cu", source);
        Assert.Contains("demo.cu: the first line must be '// demo.cu — <what it does>'", h.Problems);
        Assert.Contains(h.Problems, p => p.Contains("must come in the order", StringComparison.Ordinal));
    }
}
