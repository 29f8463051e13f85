using System.Runtime.CompilerServices;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>A theory that runs only with a CUDA device and NVRTC; otherwise it is skipped with the reason.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (CudaTestEnvironment.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
