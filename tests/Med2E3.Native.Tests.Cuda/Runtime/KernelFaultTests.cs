using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tests.Shared;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>
/// A kernel that touches an address no allocation has ends its launch with a sticky
/// <c>CUDA_ERROR_ILLEGAL_ADDRESS</c>, and the process lives on: later calls report the same error, and .NET's own fault
/// handling (a NullReferenceException from a managed null dereference) works before and after. On the emulated
/// device the fault is a SIGSEGV in host code, caught by the emulator's handler, which passes every other fault on to
/// the .NET runtime's; there the message also names the kernel, the block and the thread. The fault poisons the
/// context for the rest of the process, so the work runs in a child process (<see cref="ChildProcess"/>). A params
/// struct mirrored on the host with two fields swapped (same size, so no size check sees it) faults the same way.
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

    // The kernel's struct is { x, y, float a, long long n }; this host mirror has the last two swapped. The sizes
    // agree (32 bytes), so only running it shows the mistake: n becomes the bits of the float (and a the bits of n).
    [StructLayout(LayoutKind.Sequential)]
    private struct SwappedAxpyParams
    {
        public ulong X;
        public ulong Y;
        public long N;
        public float A;
    }

    private const string AxpySource = """
        struct AxpyParams { const float* x; float* y; float a; long long n; };
        static_assert(sizeof(AxpyParams) == 32, "AxpyParams layout");
        extern "C" __global__ void axpy_struct(AxpyParams p)
        {
            for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
                p.y[i] += p.a * p.x[i];
        }
        """;

    [CudaFact]
    public void AParamsStructWithTwoFieldsSwappedIsAnIllegalAddress()
    {
        if (ChildProcess.IsChildFor(SwappedTestName()))
        {
            LaunchSwappedStruct();
            return;
        }

        (int exit, string output) = ChildProcess.Run(
            typeof(KernelFaultTests), nameof(AParamsStructWithTwoFieldsSwappedIsAnIllegalAddress), TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, $"the child process failed (exit code {exit}):\n{output}");
        Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", output, StringComparison.Ordinal);
    }

    private static string SwappedTestName() =>
        $"{typeof(KernelFaultTests).FullName}.{nameof(AParamsStructWithTwoFieldsSwappedIsAnIllegalAddress)}";

    private static void LaunchSwappedStruct()
    {
        Assert.Equal(32, Marshal.SizeOf<SwappedAxpyParams>());
        using var device = CudaDevice.Open(0);
        KernelBinary binary = KernelCompiler.Compile("axpy_struct.cu", AxpySource, new Dictionary<string, string>(), device.Arch, ["--std=c++17"], false);
        using var module = new CudaModule(device, binary);
        const int n = 5000;
        DeviceBuffer<float> x = device.Pool.Rent<float>(n);
        DeviceBuffer<float> y = device.Pool.Rent<float>(n);
        device.Stream.Upload<float>(CpuReference.Random(n, 4), x.Pointer);
        device.Stream.Upload<float>(CpuReference.Random(n, 5), y.Pointer);
        var p = new SwappedAxpyParams { X = x.Pointer, Y = y.Pointer, N = n, A = 0.25f };
        var fault = Assert.Throws<CudaException>(() =>
        {
            module.GetFunction("axpy_struct").Launch(device.Stream, Dim3.CeilDiv(n, 256), 256, 0, in p);
            device.Stream.Synchronize();
        });
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", fault.ErrorName);
        if (CudaRuntime.EmulatorDescription is not null)
        {
            // The loop runs to the float's bits, 1048576000, and leaves the buffers (whatever the pool's rounding).
            Assert.Contains("axpy_struct block (", fault.Message, StringComparison.Ordinal);
            Assert.Matches("bytes past the end of the [0-9]+-byte device allocation", fault.Message);
        }
    }

    private static void AssertManagedNullDereferenceThrows() =>
        Assert.Throws<NullReferenceException>(() => FirstOf(null));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FirstOf(int[]? values) => values![0];
}
