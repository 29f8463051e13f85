using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The disk cache key changes with everything that changes the binary, and only with that.</summary>
public class KernelCacheKeyTests
{
    private static readonly Dictionary<string, string> Headers = new() { ["common.cuh"] = "#pragma once\n" };

    private static string Key(
        string source = "extern \"C\" __global__ void k() {}",
        IReadOnlyDictionary<string, string>? headers = null,
        string[]? options = null,
        string target = "sm_90",
        string nvrtc = "13.0") =>
        KernelCompiler.ComputeCacheKey(source, headers ?? Headers, options ?? ["--std=c++17"], target, nvrtc);

    [Fact]
    public void SameInputsGiveTheSameKey()
    {
        Assert.Equal(Key(), Key());
        Assert.Equal(64, Key().Length);
        // Header order in the dictionary does not matter; names are sorted.
        var a = new Dictionary<string, string> { ["a.cuh"] = "1", ["b.cuh"] = "2" };
        var b = new Dictionary<string, string> { ["b.cuh"] = "2", ["a.cuh"] = "1" };
        Assert.Equal(Key(headers: a), Key(headers: b));
    }

    [Fact]
    public void KeyChangesWithSourceHeadersOptionsArchAndNvrtcVersion()
    {
        string[] keys =
        [
            Key(),
            Key(source: "extern \"C\" __global__ void k2() {}"),
            Key(headers: new Dictionary<string, string> { ["common.cuh"] = "#pragma once\n// edited\n" }),
            Key(headers: new Dictionary<string, string> { ["other.cuh"] = "#pragma once\n" }),
            Key(options: ["--std=c++17", "-lineinfo"]),
            Key(options: ["-lineinfo", "--std=c++17"]),
            Key(target: "sm_80"),
            Key(target: "compute_90"),
            Key(nvrtc: "12.8"),
        ];
        Assert.Equal(keys.Length, keys.Distinct().Count());
    }

    [Fact]
    public void MovingTextBetweenFieldsChangesTheKey()
    {
        Assert.NotEqual(Key(options: ["-a", "b"]), Key(options: ["-ab"]));
        Assert.NotEqual(Key(source: "x", target: "ysm_90"), Key(source: "xy", target: "sm_90"));
    }

    [NvrtcFact]
    public void DiskCacheServesTheSecondCompile()
    {
        string dir = Path.Combine(Path.GetTempPath(), "med2e3-cache-" + Guid.NewGuid().ToString("N"));
        string saved = RuntimeOptions.KernelCacheDirectory;
        RuntimeOptions.KernelCacheDirectory = dir;
        try
        {
            const string source = "extern \"C\" __global__ void cached_k(float* y) { y[threadIdx.x] = 2.0f; }\n";
            var none = new Dictionary<string, string>();
            KernelBinary cold = KernelCompiler.Compile("cached.cu", source, none, "sm_80", ["--std=c++17"]);
            KernelBinary warm = KernelCompiler.Compile("cached.cu", source, none, "sm_80", ["--std=c++17"]);
            Assert.False(cold.FromCache);
            Assert.True(warm.FromCache);
            Assert.Equal(cold.CacheKey, warm.CacheKey);
            Assert.Equal(cold.Image, warm.Image);
            Assert.True(File.Exists(Path.Combine(dir, cold.CacheKey + ".cubin")));

            KernelBinary otherArch = KernelCompiler.Compile("cached.cu", source, none, "sm_90", ["--std=c++17"]);
            Assert.False(otherArch.FromCache);
            Assert.NotEqual(cold.CacheKey, otherArch.CacheKey);
        }
        finally
        {
            RuntimeOptions.KernelCacheDirectory = saved;
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void CacheFolderFollowsTheEnvironment()
    {
        var env = new Dictionary<string, string?> { ["HOME"] = "/home/u" };
        Assert.Equal(Path.Combine("/home/u", ".cache", "med2e3", "kernels"),
            RuntimeOptions.DefaultKernelCacheDirectory(n => env.GetValueOrDefault(n)));
        env["XDG_CACHE_HOME"] = "/xdg";
        Assert.Equal(Path.Combine("/xdg", "med2e3", "kernels"),
            RuntimeOptions.DefaultKernelCacheDirectory(n => env.GetValueOrDefault(n)));
        env["MED2E3_CACHE_DIR"] = "/override";
        Assert.Equal(Path.Combine("/override", "kernels"),
            RuntimeOptions.DefaultKernelCacheDirectory(n => env.GetValueOrDefault(n)));
    }

    [Theory]
    [InlineData("sm_90", new[] { 80, 86, 90 }, "sm_90", KernelImageKind.Cubin)]
    [InlineData("sm_90a", new[] { 80, 90 }, "sm_90a", KernelImageKind.Cubin)]
    [InlineData("sm_100", new[] { 80, 86, 89, 90 }, "compute_90", KernelImageKind.Ptx)]
    [InlineData("sm_120", new int[0], "sm_120", KernelImageKind.Cubin)]
    public void TargetIsExactCubinOrPtxFallback(string arch, int[] supported, string target, KernelImageKind kind)
    {
        Assert.Equal((target, kind), KernelCompiler.ChooseTarget(arch, supported));
    }

    [Theory]
    [InlineData("sm90")]
    [InlineData("gfx90a")]
    [InlineData("sm_9")]
    [InlineData("")]
    public void UnknownArchitecturesAreRejectedWithTheExpectedForm(string arch)
    {
        var e = Assert.Throws<ArgumentException>(() => KernelCompiler.ParseArch(arch));
        Assert.Contains("expected sm_<major><minor>", e.Message, StringComparison.Ordinal);
    }
}
