namespace Med2E3.Native.Runtime;

/// <summary>
/// Where to look for the NVIDIA libraries, as a pure function of the environment and the file system, so the search
/// order can be tested against a fake folder. Order: <c>MED2E3_CUDA_LIB_DIR</c> (one or more folders separated by the
/// path separator), <c>CUDA_PATH/lib64</c> (<c>CUDA_PATH\bin</c>, <c>CUDA_PATH\bin\x64</c> on Windows), the default
/// folders (<c>/usr/local/cuda/lib64</c>), then the bare file names for the loader's own search.
/// </summary>
public static class NativeLibraryProbe
{
    /// <summary>Environment variable naming an extra folder searched first.</summary>
    public const string LibraryDirectoryVariable = "MED2E3_CUDA_LIB_DIR";

    /// <summary>The folders searched after the environment variables on Linux.</summary>
    public static IReadOnlyList<string> DefaultLinuxDirectories { get; } = ["/usr/local/cuda/lib64"];

    /// <summary>File names tried for <paramref name="library"/>, newest version first.</summary>
    /// <param name="library">Which library.</param>
    /// <param name="windows">True for Windows DLL names, false for Linux shared objects.</param>
    public static IReadOnlyList<string> FileNames(CudaLibrary library, bool windows) => (library, windows) switch
    {
        (CudaLibrary.Driver, false) => ["libcuda.so.1"],
        (CudaLibrary.Nvrtc, false) => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
        (CudaLibrary.Cublas, false) => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"],
        (CudaLibrary.CublasLt, false) => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"],
        (CudaLibrary.Driver, true) => ["nvcuda.dll"],
        (CudaLibrary.Nvrtc, true) => ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"],
        (CudaLibrary.Cublas, true) => ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"],
        (CudaLibrary.CublasLt, true) => ["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"],
        _ => throw new ArgumentOutOfRangeException(nameof(library), library, "unknown CUDA library"),
    };

    /// <summary>The folders to search, in order, from the environment and the given defaults.</summary>
    /// <param name="getEnvironmentVariable">Reads an environment variable (null when unset).</param>
    /// <param name="defaultDirectories">Folders searched after the environment ones.</param>
    /// <param name="windows">True on Windows (CUDA_PATH\bin instead of CUDA_PATH/lib64).</param>
    public static IReadOnlyList<string> SearchDirectories(
        Func<string, string?> getEnvironmentVariable, IEnumerable<string> defaultDirectories, bool windows)
    {
        var dirs = new List<string>();
        string? explicitDirs = getEnvironmentVariable(LibraryDirectoryVariable);
        if (!string.IsNullOrWhiteSpace(explicitDirs))
        {
            char separator = windows ? ';' : ':';
            dirs.AddRange(explicitDirs.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        string? cudaPath = getEnvironmentVariable("CUDA_PATH");
        if (!string.IsNullOrWhiteSpace(cudaPath))
        {
            if (windows)
            {
                dirs.Add(Path.Combine(cudaPath, "bin"));
                dirs.Add(Path.Combine(cudaPath, "bin", "x64"));
            }
            else
            {
                dirs.Add(Path.Combine(cudaPath, "lib64"));
            }
        }

        dirs.AddRange(defaultDirectories);
        return dirs.Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// The ordered load candidates for <paramref name="library"/>: full paths of files that exist in the search
    /// folders (folder by folder, newest version first), then the bare file names for the loader's own search.
    /// </summary>
    /// <param name="library">Which library.</param>
    /// <param name="getEnvironmentVariable">Reads an environment variable (null when unset).</param>
    /// <param name="defaultDirectories">Folders searched after the environment ones.</param>
    /// <param name="fileExists">Tells whether a file exists.</param>
    /// <param name="windows">True for Windows names and folders.</param>
    public static IReadOnlyList<string> Candidates(
        CudaLibrary library,
        Func<string, string?> getEnvironmentVariable,
        IEnumerable<string> defaultDirectories,
        Func<string, bool> fileExists,
        bool windows)
    {
        IReadOnlyList<string> names = FileNames(library, windows);
        var result = new List<string>();
        foreach (string dir in SearchDirectories(getEnvironmentVariable, defaultDirectories, windows))
        {
            foreach (string name in names)
            {
                string path = Path.Combine(dir, name);
                if (fileExists(path))
                {
                    result.Add(path);
                }
            }
        }

        result.AddRange(names);
        return result;
    }
}
