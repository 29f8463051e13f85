using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

public class KernelCompileTests
{
    [NvrtcFact]
    public void KernelFileCompilesToAnElfCubinForTheExactArch()
    {
        KernelBinary binary = KernelCompiler.Compile("elementwise", "sm_80", useDiskCache: false);
        Assert.Equal("elementwise.cu", binary.FileName);
        Assert.Equal(KernelImageKind.Cubin, binary.Kind);
        Assert.Equal("sm_80", binary.Target);
        Assert.Contains("--gpu-architecture=sm_80", binary.Options);
        Assert.Contains("--std=c++17", binary.Options);
        // CUBIN is an ELF image: 0x7F 'E' 'L' 'F'.
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F'], binary.Image[..4]);
        Assert.False(binary.FromCache);
    }

    [NvrtcFact]
    public void PtxCanBeProducedForInspection()
    {
        string ptx = KernelCompiler.CompileToPtx(
            "reduce.cu", KernelSources.Read("reduce.cu"), KernelSources.Headers, "sm_80", KernelSources.Flags);
        Assert.Contains(".target sm_80", ptx, StringComparison.Ordinal);
        Assert.Contains(".entry sum_fwd_f32_v2", ptx, StringComparison.Ordinal);
    }

    [NvrtcFact]
    public void BrokenSourceThrowsWithTheFullLog()
    {
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
