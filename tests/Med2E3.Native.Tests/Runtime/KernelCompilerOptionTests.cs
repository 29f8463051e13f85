using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

public class KernelCompilerOptionTests
{
    private static readonly string[] Flags = ["--std=c++17", "-lineinfo"];

    [Fact]
    public void LineInfoIsDroppedOnlyForSm90CubinWithNvrtc11()
    {
        Assert.Equal(["--std=c++17"],
            KernelCompiler.WithoutCrashingOptions(Flags, "sm_90", KernelImageKind.Cubin, new Version(11, 8)));
        Assert.Equal(Flags,
            KernelCompiler.WithoutCrashingOptions(Flags, "sm_80", KernelImageKind.Cubin, new Version(11, 8)));
        Assert.Equal(Flags,
            KernelCompiler.WithoutCrashingOptions(Flags, "compute_90", KernelImageKind.Ptx, new Version(11, 8)));
        Assert.Equal(Flags,
            KernelCompiler.WithoutCrashingOptions(Flags, "sm_90", KernelImageKind.Cubin, new Version(12, 4)));
    }
}
