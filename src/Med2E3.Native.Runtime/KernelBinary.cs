namespace Med2E3.Native.Runtime;

/// <summary>The result of compiling one kernel file with NVRTC.</summary>
/// <param name="FileName">The kernel file, e.g. "elementwise.cu".</param>
/// <param name="Target">The architecture compiled for: "sm_90" (CUBIN) or "compute_90" (PTX).</param>
/// <param name="Kind">CUBIN or PTX.</param>
/// <param name="Image">The image to pass to <c>cuModuleLoadData</c> (PTX is NUL-terminated).</param>
/// <param name="Log">The NVRTC log (warnings, and the ptxas report when <c>--ptxas-options=-v</c> was given).</param>
/// <param name="Options">The exact options passed to NVRTC.</param>
/// <param name="CompileTime">Wall time of the compile (or of the cache read).</param>
/// <param name="FromCache">True when the image came from the disk cache.</param>
/// <param name="CacheKey">The SHA-256 cache key (hex).</param>
public sealed record KernelBinary(
    string FileName,
    string Target,
    KernelImageKind Kind,
    byte[] Image,
    string Log,
    IReadOnlyList<string> Options,
    TimeSpan CompileTime,
    bool FromCache,
    string CacheKey);
