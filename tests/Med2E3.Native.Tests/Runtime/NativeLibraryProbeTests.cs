using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The library search order, as a pure function tested against a fake folder.</summary>
public sealed class NativeLibraryProbeTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "med2e3-probe-" + Guid.NewGuid().ToString("N"));

    public NativeLibraryProbeTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string MakeDir(string name, params string[] files)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        foreach (string f in files)
        {
            File.WriteAllBytes(Path.Combine(dir, f), [0]);
        }

        return dir;
    }

    [Fact]
    public void ExplicitFolderComesFirstThenCudaPathThenDefaultsThenLoaderNames()
    {
        string explicitDir = MakeDir("explicit", "libnvrtc.so.12");
        string cudaPath = Path.Combine(_root, "cuda");
        string cudaLib = MakeDir(Path.Combine("cuda", "lib64"), "libnvrtc.so.13", "libnvrtc.so.12");
        string usrLocal = MakeDir("usr-local-cuda-lib64", "libnvrtc.so.11.2");
        var env = new Dictionary<string, string?> { ["MED2E3_CUDA_LIB_DIR"] = explicitDir, ["CUDA_PATH"] = cudaPath };

        IReadOnlyList<string> candidates = NativeLibraryProbe.Candidates(
            CudaLibrary.Nvrtc, n => env.GetValueOrDefault(n), [usrLocal], File.Exists, windows: false);

        Assert.Equal(
            [
                Path.Combine(explicitDir, "libnvrtc.so.12"),
                Path.Combine(cudaLib, "libnvrtc.so.13"),
                Path.Combine(cudaLib, "libnvrtc.so.12"),
                Path.Combine(usrLocal, "libnvrtc.so.11.2"),
                "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so",
            ],
            candidates);
    }

    [Fact]
    public void WithNothingInstalledOnlyTheLoaderNamesRemain()
    {
        string empty = MakeDir("empty");
        IReadOnlyList<string> candidates = NativeLibraryProbe.Candidates(
            CudaLibrary.Driver, _ => null, [empty], File.Exists, windows: false);
        Assert.Equal(["libcuda.so.1"], candidates);
    }

    [Fact]
    public void SeveralExplicitFoldersAreSearchedInOrder()
    {
        string a = MakeDir("a");
        string b = MakeDir("b", "libcublas.so.13", "libcublasLt.so.13");
        var env = new Dictionary<string, string?> { ["MED2E3_CUDA_LIB_DIR"] = $"{a}:{b}" };
        IReadOnlyList<string> candidates = NativeLibraryProbe.Candidates(
            CudaLibrary.CublasLt, n => env.GetValueOrDefault(n), [], File.Exists, windows: false);
        Assert.Equal(Path.Combine(b, "libcublasLt.so.13"), candidates[0]);
        Assert.Equal(["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"], candidates.Skip(1));
    }

    [Fact]
    public void WindowsUsesDllNamesAndCudaPathBin()
    {
        var files = new HashSet<string> { Path.Combine("C:/cuda", "bin", "x64", "nvrtc64_130_0.dll") };
        var env = new Dictionary<string, string?> { ["CUDA_PATH"] = "C:/cuda" };
        IReadOnlyList<string> candidates = NativeLibraryProbe.Candidates(
            CudaLibrary.Nvrtc, n => env.GetValueOrDefault(n), [], files.Contains, windows: true);
        Assert.Equal(Path.Combine("C:/cuda", "bin", "x64", "nvrtc64_130_0.dll"), candidates[0]);
        Assert.Contains("nvrtc64_120_0.dll", candidates);
        Assert.Equal(["nvcuda.dll"], NativeLibraryProbe.FileNames(CudaLibrary.Driver, windows: true));
    }

    [Fact]
    public void NvrtcIsFoundOnThisMachineWhenInstalled()
    {
        // CI installs libnvrtc; the probe must find it through the loader's own search.
        if (!NvrtcRuntime.IsAvailable)
        {
            Assert.Skip($"NVRTC is not installed here: {NvrtcRuntime.UnavailableReason}");
        }

        Assert.NotNull(NvrtcRuntime.LibraryPath);
        Assert.Contains("nvrtc", NvrtcRuntime.LibraryPath, StringComparison.OrdinalIgnoreCase);
        Assert.True(NvrtcRuntime.Version.Major >= 11);
        Assert.Contains(80, NvrtcRuntime.SupportedArchs);
    }
}
