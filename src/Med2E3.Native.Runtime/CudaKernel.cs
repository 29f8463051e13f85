using System.Diagnostics;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// A kernel function in a loaded module, with its resource usage and the typed launcher. Every launch names its
/// stream. With <c>MED2E3_SYNC=1</c> the stream is synchronised and checked after each launch; with
/// <c>MED2E3_DEBUG≥1</c> each launch is logged with its grid, block and time.
/// </summary>
public sealed class CudaKernel
{
    private readonly nint _function;

    internal CudaKernel(CudaModule module, string name, nint function)
    {
        Module = module;
        Name = name;
        _function = function;
        Registers = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
        StaticSharedBytes = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
        LocalBytes = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
        MaxThreadsPerBlock = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        MaxDynamicSharedBytes = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
    }

    /// <summary>The module (kernel file) this function lives in.</summary>
    public CudaModule Module { get; }

    /// <summary>The device.</summary>
    public CudaDevice Device => Module.Device;

    /// <summary>The <c>extern "C"</c> name.</summary>
    public string Name { get; }

    /// <summary>Registers per thread.</summary>
    public int Registers { get; }

    /// <summary>Static shared memory per block, bytes.</summary>
    public int StaticSharedBytes { get; }

    /// <summary>Local memory (stack and spills) per thread, bytes.</summary>
    public int LocalBytes { get; }

    /// <summary>Largest block this function can be launched with.</summary>
    public int MaxThreadsPerBlock { get; }

    /// <summary>Current limit on dynamic shared memory per block, bytes.</summary>
    public int MaxDynamicSharedBytes { get; private set; }

    /// <summary>Raises the dynamic shared memory limit (needed above 48 KiB).</summary>
    /// <param name="bytes">New limit, at most <see cref="CudaDevice.MaxSharedMemoryPerBlockOptin"/> minus static.</param>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        Device.MakeCurrent();
        Check(cuFuncSetAttribute(
            _function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes));
        MaxDynamicSharedBytes = bytes;
    }

    /// <summary>Queues the kernel on <paramref name="stream"/> with the arguments in <paramref name="args"/>.</summary>
    /// <param name="stream">The stream (explicit, always).</param>
    /// <param name="grid">Grid size in blocks.</param>
    /// <param name="block">Block size in threads.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block.</param>
    /// <param name="args">The arguments, in parameter order.</param>
    public unsafe void Launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, in KernelArgs args)
    {
        byte* values = stackalloc byte[Math.Max(8, args.ByteCount)];
        void** pointers = stackalloc void*[Math.Max(1, args.Count)];
        args.CopyTo(values, pointers);
        LaunchCore(stream, grid, block, sharedBytes, pointers);
    }

    /// <summary>
    /// Queues the kernel with one argument passed by value: a params struct mirrored from the <c>.cu</c> file
    /// (<c>[StructLayout(LayoutKind.Sequential)]</c>, size pinned by <c>static_assert</c> there).
    /// </summary>
    /// <typeparam name="TParams">The params struct.</typeparam>
    /// <param name="stream">The stream (explicit, always).</param>
    /// <param name="grid">Grid size in blocks.</param>
    /// <param name="block">Block size in threads.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block.</param>
    /// <param name="parameters">The struct value.</param>
    public unsafe void Launch<TParams>(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, in TParams parameters)
        where TParams : unmanaged
    {
        TParams copy = parameters;
        void* pointer = &copy;
        LaunchCore(stream, grid, block, sharedBytes, &pointer);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} (kernels/{Module.FileName}, {Registers} registers)";

    private unsafe void LaunchCore(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, void** pointers)
    {
        if (!ReferenceEquals(stream.Device, Device))
        {
            throw new ArgumentException($"{Name}: the stream belongs to another device", nameof(stream));
        }

        if (grid.Total == 0 || block.Total == 0 || block.Total > MaxThreadsPerBlock)
        {
            throw new ArgumentOutOfRangeException(
                nameof(block),
                $"{Name}: grid {grid} block {block} is invalid (block must have 1..{MaxThreadsPerBlock} threads)");
        }

        Device.MakeCurrent();
        bool timed = RuntimeOptions.DebugLevel >= 1 && !stream.IsCapturing;
        CudaEvent? start = null;
        CudaEvent? end = null;
        if (timed)
        {
            start = Device.CreateEvent();
            end = Device.CreateEvent();
            start.Record(stream);
        }

        try
        {
            CUresult r = cuLaunchKernel(
                _function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes, stream.Handle,
                pointers, null);
            if (r != CUresult.CUDA_SUCCESS)
            {
                throw FromDriver(r, $"cuLaunchKernel({Name} grid {grid} block {block} smem {sharedBytes})");
            }

            KernelCensus.Record(Module.FileName, Name);

            if (RuntimeOptions.SyncAfterLaunch && !stream.IsCapturing)
            {
                CUresult s = cuStreamSynchronize(stream.Handle);
                if (s != CUresult.CUDA_SUCCESS)
                {
                    throw FromDriver(s, $"{Name} (kernels/{Module.FileName}) grid {grid} block {block} after launch");
                }
            }

            if (timed)
            {
                end!.Record(stream);
                end.Synchronize();
                float ms = CudaEvent.ElapsedMilliseconds(start!, end);
                RuntimeOptions.Log($"launch {Name} grid {grid} block {block} smem {sharedBytes} {ms * 1000:F1} µs");
            }
        }
        finally
        {
            start?.Dispose();
            end?.Dispose();
        }
    }

    private int Attribute(CUfunction_attribute attribute)
    {
        Check(cuFuncGetAttribute(out int value, attribute, _function));
        return value;
    }
}
