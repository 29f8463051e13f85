using System.Runtime.CompilerServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>
/// A kernel that touches an address no allocation has ends its launch with a sticky
/// <c>CUDA_ERROR_ILLEGAL_ADDRESS</c>, and the process lives on: later calls report the same error, and .NET's own fault
/// handling (a NullReferenceException from a managed null dereference) works before and after. On the emulated
/// device the fault is a SIGSEGV in host code, caught by the emulator's handler, which passes every other fault on to
/// the .NET runtime's; there the message also names the kernel, the block and the thread. The fault poisons the
/// context for the rest of the process, so the work runs in a child process (<see cref="ChildProcess"/>).
/// </summary>
public class KernelFaultTests
{
    private const string Source = """
        // Thread 5 of block 2 stores through an address no allocation has; every other thread stores in bounds.
        extern "C" __global__ void poke(float* y, int bad_block, int bad_thread)
        {
            float* p = y + blockIdx.x * blockDim.x + threadIdx.x;
            if ((int)blockIdx.x == bad_block && (int)threadIdx.x == bad_thread) p = (float*)16;
            *p = 1.0f;
        }
        """;

    [CudaFact]
    public void AKernelFaultIsAStickyIllegalAddressAndTheProcessLivesOn()
    {
        if (ChildProcess.IsChildFor(TestName()))
        {
            FaultAndCarryOn();
            return;
        }

        (int exit, string output) = ChildProcess.Run(
            typeof(KernelFaultTests), nameof(AKernelFaultIsAStickyIllegalAddressAndTheProcessLivesOn), TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, $"the child process failed (exit code {exit}):\n{output}");
        Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", output, StringComparison.Ordinal);
    }

    private static string TestName() =>
        $"{typeof(KernelFaultTests).FullName}.{nameof(AKernelFaultIsAStickyIllegalAddressAndTheProcessLivesOn)}";

    private static void FaultAndCarryOn()
    {
        AssertManagedNullDereferenceThrows();
        using var device = CudaDevice.Open(0);
        CudaStream stream = device.Stream;
        KernelBinary binary = KernelCompiler.Compile("poke.cu", Source, new Dictionary<string, string>(), device.Arch, ["--std=c++17"], false);
        using var module = new CudaModule(device, binary);
        CudaKernel poke = module.GetFunction("poke");
        DeviceBuffer<float> y = device.Pool.Rent<float>(4 * 64);

        var fault = Assert.Throws<CudaException>(() =>
        {
            poke.Launch(stream, 4, 64, 0, new KernelArgs().Add(y).Add(2).Add(5));
            stream.Synchronize();
        });
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", fault.ErrorName);
        if (CudaRuntime.EmulatorDescription is not null)
        {
            Assert.Contains("poke block (2,0,0) thread (5,0,0)", fault.Message, StringComparison.Ordinal);
            Assert.Contains("illegal address 0x10 (a null pointer plus 16)", fault.Message, StringComparison.Ordinal);
        }

        // Sticky: the context is unusable for the rest of the process, as on a GPU.
        var again = Assert.Throws<CudaException>(() => stream.Upload<float>(new float[4], y.Pointer));
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", again.ErrorName);
        var launch = Assert.Throws<CudaException>(() => poke.Launch(stream, 1, 32, 0, new KernelArgs().Add(y).Add(-1).Add(-1)));
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", launch.ErrorName);

        // The .NET runtime's own handler still turns a fault in managed code into an exception.
        AssertManagedNullDereferenceThrows();
    }

    private static void AssertManagedNullDereferenceThrows() =>
        Assert.Throws<NullReferenceException>(() => FirstOf(null));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FirstOf(int[]? values) => values![0];
}
