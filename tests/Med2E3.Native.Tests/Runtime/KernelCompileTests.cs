using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

public class KernelCompileTests
{
    public static TheoryData<string, string> FilesAndArchs()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in KernelSources.Files)
        {
            data.Add(file, "sm_80");
            data.Add(file, "sm_90");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FilesAndArchs))]
    public void EveryKernelFileCompilesToCubin(string file, string arch)
    {
        Assert.SkipUnless(NvrtcRuntime.IsAvailable, $"NVRTC is not available: {NvrtcRuntime.UnavailableReason}");
        KernelBinary binary = KernelCompiler.Compile(file, arch, useDiskCache: false);
        Assert.Equal(KernelImageKind.Cubin, binary.Kind);
        Assert.Equal(arch, binary.Target);
        Assert.True(binary.Image.Length > 1000, $"{file}: CUBIN of {binary.Image.Length} bytes");
        // An ELF image: CUBIN starts with 0x7F 'E' 'L' 'F'.
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F'], binary.Image[..4]);
    }

    [Fact]
    public void BrokenSourceThrowsWithTheFullLog()
    {
        Assert.SkipUnless(NvrtcRuntime.IsAvailable, $"NVRTC is not available: {NvrtcRuntime.UnavailableReason}");
        const string source = "extern \"C\" __global__ void broken(float* y) { y[0] = undeclared_name + 1.0f; }\n";
        var e = Assert.Throws<KernelCompileException>(() =>
            KernelCompiler.Compile("broken.cu", source, new Dictionary<string, string>(), "sm_80", ["--std=c++17"], false));
        Assert.Equal("broken.cu", e.FileName);
        Assert.Equal("NVRTC_ERROR_COMPILATION", e.ErrorName);
        Assert.Contains("undeclared_name", e.Log, StringComparison.Ordinal);
        Assert.Contains("undeclared_name", e.Message, StringComparison.Ordinal);
        Assert.Contains("--gpu-architecture=sm_80", e.Message, StringComparison.Ordinal);
        Assert.Contains("broken.cu", e.Message, StringComparison.Ordinal);
    }
}
