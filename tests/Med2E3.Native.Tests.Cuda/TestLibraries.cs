using System.Runtime.CompilerServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda;

/// <summary>
/// <c>MED2E3_TEST_CUDA_LIB_DIR=&lt;folder&gt;</c> points this test project, and only it, at a folder of CUDA
/// libraries (the emulated device of <c>native/emulator</c> in CI): the variable becomes
/// <see cref="NativeLibraryProbe.LibraryDirectoryVariable"/> for this process before anything probes for CUDA. The
/// CPU test project keeps the real NVRTC it checks kernels with, so one <c>dotnet test</c> over the solution runs
/// both suites.
/// </summary>
internal static class TestLibraries
{
    /// <summary>The variable read at start-up.</summary>
    public const string Variable = "MED2E3_TEST_CUDA_LIB_DIR";

#pragma warning disable CA2255 // a test assembly's start-up, not a library's
    [ModuleInitializer]
    internal static void Select()
#pragma warning restore CA2255
    {
        string? folder = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(folder))
        {
            Environment.SetEnvironmentVariable(NativeLibraryProbe.LibraryDirectoryVariable, folder);
        }
    }
}
