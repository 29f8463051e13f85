namespace Med2E3.Native.Runtime;

/// <summary>NVRTC rejected a kernel file. The message carries the file, the target, the options and the full log.</summary>
public sealed class KernelCompileException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="fileName">The kernel file.</param>
    /// <param name="target">The architecture it was compiled for.</param>
    /// <param name="options">The NVRTC options.</param>
    /// <param name="log">The full NVRTC log.</param>
    /// <param name="errorName">The NVRTC result name, e.g. <c>NVRTC_ERROR_COMPILATION</c>.</param>
    public KernelCompileException(string fileName, string target, IReadOnlyList<string> options, string log, string errorName)
        : base($"kernels/{fileName}: NVRTC failed to compile for {target} ({errorName})\n" +
               $"options: {string.Join(' ', options)}\n{log.TrimEnd()}")
    {
        FileName = fileName;
        Target = target;
        Options = options;
        Log = log;
        ErrorName = errorName;
    }

    /// <summary>The kernel file.</summary>
    public string FileName { get; }

    /// <summary>The architecture it was compiled for.</summary>
    public string Target { get; }

    /// <summary>The NVRTC options.</summary>
    public IReadOnlyList<string> Options { get; }

    /// <summary>The full NVRTC log.</summary>
    public string Log { get; }

    /// <summary>The NVRTC result name.</summary>
    public string ErrorName { get; }
}
