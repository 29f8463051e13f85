using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary><c>med2e3 kernels check</c>: every kernel file compiles for sm_80 and sm_90 and no default variant spills.</summary>
public class KernelCheckTests
{
    public static TheoryData<string, string> FilesAndArchs()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in KernelSources.Files)
        {
            foreach (string arch in KernelCheck.DefaultArchs)
            {
                data.Add(file, arch);
            }
        }

        return data;
    }

    [NvrtcTheory]
    [MemberData(nameof(FilesAndArchs))]
    public void CompilesWithoutSpillsInDefaultVariants(string file, string arch)
    {
        KernelCheckReport report = KernelCheck.Run([arch], [file]);
        Assert.True(report.Failures.Count == 0, string.Join("\n", report.Failures.Select(f => f.Message)));
        KernelHeader header = KernelHeader.Parse(file, KernelSources.Read(file));
        // ptxas reports every kernel the header defines.
        Assert.Equal(header.Defines.Order(StringComparer.Ordinal), report.Rows.Select(r => r.Kernel).Order(StringComparer.Ordinal));
        Assert.All(report.Rows, r => Assert.InRange(r.Registers, 1, 255));
        KernelResourceUsage[] spilling = report.SpillingDefaults.ToArray();
        Assert.True(spilling.Length == 0, string.Join(", ", spilling.Select(s => $"{s.Kernel} spills {s.SpillStoreBytes} B")));
        Assert.True(report.Passed);
    }

    [Fact]
    public void PtxasReportIsParsedPerKernel()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'big_fwd_f32_v1' for 'sm_90'
            ptxas info    : Function properties for big_fwd_f32_v1
            ptxas         .     64 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads
            ptxas info    : Used 255 registers, 16384 bytes smem, 400 bytes cmem[0]
            ptxas info    : Compiling entry function 'small_fwd_f32' for 'sm_90'
            ptxas info    : Function properties for small_fwd_f32
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 13 registers
            ptxas info    : Compiling entry function 'barrier_k' for 'sm_90'
            ptxas info    : Function properties for barrier_k
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 40 registers, used 1 barriers, 2048 bytes smem, 380 bytes cmem[0]
            """;
        IReadOnlyList<KernelResourceUsage> rows = KernelCheck.ParsePtxasLog("x.cu", "sm_90", log, k => k != "big_fwd_f32_v1");
        Assert.Equal(3, rows.Count);
        Assert.Equal(new KernelResourceUsage("x.cu", "big_fwd_f32_v1", "sm_90", 255, 16384, 64, 40, 36, false), rows[0]);
        Assert.Equal(new KernelResourceUsage("x.cu", "small_fwd_f32", "sm_90", 13, 0, 0, 0, 0, true), rows[1]);
        Assert.Equal(2048, rows[2].SharedBytes);
        Assert.True(rows[0].Spills);
        var report = new KernelCheckReport(["sm_90"], rows, [], []);
        Assert.True(report.Passed);
        var spillingDefault = new KernelCheckReport(["sm_90"], [rows[0] with { IsDefault = true }], [], []);
        Assert.False(spillingDefault.Passed);
    }

    [NvrtcTheory]
    [InlineData("compute_90")]
    [InlineData("sm90")]
    [InlineData("ampere")]
    public void UnknownArchitectureIsRejected(string arch)
    {
        var e = Assert.Throws<ArgumentException>(() => KernelCheck.Run([arch]));
        Assert.Contains($"unknown architecture '{arch}'", e.Message, StringComparison.Ordinal);
    }

    [NvrtcFact]
    public void ArchitectureNewerThanNvrtcIsRejectedWithTheSupportedList()
    {
        Assert.SkipWhen(NvrtcRuntime.SupportedArchs.Count == 0, "this NVRTC cannot list its targets");
        string beyond = $"sm_{NvrtcRuntime.SupportedArchs[^1] + 100}";
        var e = Assert.Throws<ArgumentException>(() => KernelCheck.Run([beyond]));
        Assert.Contains($"architecture {beyond} is not supported by NVRTC", e.Message, StringComparison.Ordinal);
        Assert.Contains("sm_80", e.Message, StringComparison.Ordinal);
    }

    [NvrtcFact]
    public void CompileErrorIsReportedWithTheLog()
    {
        // A file with a type error, compiled like the check does, lands in Failures rather than throwing.
        const string source = "extern \"C\" __global__ void bad_fwd_f32(float* y) { y[0] = nope; }\n";
        var e = Assert.Throws<KernelCompileException>(() =>
            KernelCompiler.Compile("bad.cu", source, KernelSources.Headers, "sm_90", [.. KernelSources.Flags, "--ptxas-options=-v"], false));
        Assert.Contains("identifier \"nope\" is undefined", e.Log, StringComparison.Ordinal);
    }
}
