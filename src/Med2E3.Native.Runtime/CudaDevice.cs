using System.Runtime.InteropServices;
using System.Text;
using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// One CUDA device and its primary context. The device owns everything created on it — streams, events, graphs,
/// pinned buffers, modules, the memory pool (and so every buffer rented from it) and the cuBLAS handles — and
/// disposing the device disposes them in reverse creation order.
/// </summary>
public sealed class CudaDevice : IDisposable
{
    [ThreadStatic]
    private static nint _currentContext;

    private readonly SafePrimaryContextHandle _context;
    private readonly List<IDisposable> _owned = [];
    private readonly object _gate = new();
    private readonly KernelModuleCache _modules;
    private Cublas? _cublas;
    private bool _disposed;

    private CudaDevice(int ordinal)
    {
        Check(cuDeviceGet(out int device, ordinal));
        Ordinal = device;
        Name = ReadName(device);
        ComputeCapabilityMajor = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ComputeCapabilityMinor = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        SmCount = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        WarpSize = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_WARP_SIZE);
        MaxThreadsPerBlock = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        MaxThreadsPerSm = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
        MaxSharedMemoryPerBlock = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
        MaxSharedMemoryPerBlockOptin = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        MaxSharedMemoryPerSm = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
        MaxRegistersPerBlock = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
        L2CacheBytes = Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
        ClockRateKHz = TryAttribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
        MemoryClockRateKHz = TryAttribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
        MemoryBusWidthBits = TryAttribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
        Check(cuDeviceTotalMem(out nuint total, device));
        TotalMemoryBytes = (long)total;

        Check(cuDevicePrimaryCtxRetain(out nint context, device));
        _context = new SafePrimaryContextHandle();
        _context.DangerousAttach(context, device);
        MakeCurrent();

        Pool = new DeviceMemoryPool(this);
        _owned.Add(Pool);
        _modules = new KernelModuleCache(this);
        _owned.Add(_modules);
        Stream = CreateStream();
    }

    /// <summary>Opens device <paramref name="ordinal"/>; throws <see cref="CudaUnavailableException"/> without CUDA.</summary>
    /// <param name="ordinal">The device index, 0-based.</param>
    public static CudaDevice Open(int ordinal = 0)
    {
        CudaRuntime.EnsureAvailable();
        if (ordinal < 0 || ordinal >= CudaRuntime.DeviceCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(ordinal), ordinal, $"device {ordinal} does not exist; this machine has {CudaRuntime.DeviceCount}");
        }

        return new CudaDevice(ordinal);
    }

    /// <summary>The device ordinal.</summary>
    public int Ordinal { get; }

    /// <summary>The marketing name, e.g. "NVIDIA H100 80GB HBM3".</summary>
    public string Name { get; }

    /// <summary>Compute capability major version (9 on Hopper).</summary>
    public int ComputeCapabilityMajor { get; }

    /// <summary>Compute capability minor version.</summary>
    public int ComputeCapabilityMinor { get; }

    /// <summary>The exact real architecture, e.g. "sm_90", used to compile kernels for this device.</summary>
    public string Arch => $"sm_{ComputeCapabilityMajor}{ComputeCapabilityMinor}";

    /// <summary>Number of streaming multiprocessors.</summary>
    public int SmCount { get; }

    /// <summary>Threads per warp (32).</summary>
    public int WarpSize { get; }

    /// <summary>Largest block size.</summary>
    public int MaxThreadsPerBlock { get; }

    /// <summary>Largest number of resident threads per SM.</summary>
    public int MaxThreadsPerSm { get; }

    /// <summary>Shared memory a block gets without opting in (48 KiB).</summary>
    public int MaxSharedMemoryPerBlock { get; }

    /// <summary>Shared memory a block can get after <see cref="CudaKernel.SetMaxDynamicSharedMemory"/>.</summary>
    public int MaxSharedMemoryPerBlockOptin { get; }

    /// <summary>Shared memory per SM.</summary>
    public int MaxSharedMemoryPerSm { get; }

    /// <summary>32-bit registers available to one block.</summary>
    public int MaxRegistersPerBlock { get; }

    /// <summary>L2 cache size in bytes.</summary>
    public int L2CacheBytes { get; }

    /// <summary>Peak SM clock in kHz (0 if the driver no longer reports it).</summary>
    public int ClockRateKHz { get; }

    /// <summary>Peak memory clock in kHz (0 if the driver no longer reports it).</summary>
    public int MemoryClockRateKHz { get; }

    /// <summary>Memory bus width in bits (0 if unknown).</summary>
    public int MemoryBusWidthBits { get; }

    /// <summary>Theoretical DRAM bandwidth in GB/s from clock and bus width (0 if unknown).</summary>
    public double PeakMemoryBandwidthGBs => 2.0 * MemoryClockRateKHz * 1e3 * (MemoryBusWidthBits / 8.0) / 1e9;

    /// <summary>Total device memory in bytes.</summary>
    public long TotalMemoryBytes { get; }

    /// <summary>The device's memory pool, the only source of device memory.</summary>
    public DeviceMemoryPool Pool { get; }

    /// <summary>
    /// The device's main stream (non-blocking, created with the device). Every launch and copy still names its stream
    /// explicitly; this is simply the one most code passes.
    /// </summary>
    public CudaStream Stream { get; }

    /// <summary>cuBLAS and cuBLASLt bound to this device, created on first use.</summary>
    public Cublas Cublas
    {
        get
        {
            lock (_gate)
            {
                ThrowIfDisposed();
                if (_cublas is null)
                {
                    _cublas = new Cublas(this);
                    _owned.Add(_cublas);
                }

                return _cublas;
            }
        }
    }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>Makes this device's primary context current on the calling thread (cheap when it already is).</summary>
    public void MakeCurrent()
    {
        ThrowIfDisposed();
        nint context = _context.DangerousGetHandle();
        if (_currentContext != context)
        {
            Check(cuCtxSetCurrent(context));
            _currentContext = context;
        }
    }

    /// <summary>Creates a new non-blocking stream owned by this device.</summary>
    public CudaStream CreateStream()
    {
        MakeCurrent();
        var stream = new CudaStream(this);
        Track(stream);
        return stream;
    }

    /// <summary>Creates an event owned by this device.</summary>
    /// <param name="enableTiming">False for a cheaper event that cannot measure time.</param>
    public CudaEvent CreateEvent(bool enableTiming = true)
    {
        MakeCurrent();
        var e = new CudaEvent(this, enableTiming);
        Track(e);
        return e;
    }

    /// <summary>Allocates page-locked host memory, owned by this device (fast, truly asynchronous copies).</summary>
    /// <param name="bytes">Size in bytes (positive).</param>
    public PinnedHostBuffer AllocatePinned(long bytes)
    {
        MakeCurrent();
        var buffer = new PinnedHostBuffer(this, bytes);
        Track(buffer);
        return buffer;
    }

    /// <summary>
    /// The kernel <paramref name="kernelName"/> from <c>kernels/<paramref name="fileName"/></c>; the file is compiled
    /// for <see cref="Arch"/> and loaded on first use, and functions are cached by name.
    /// </summary>
    /// <param name="fileName">The kernel file, e.g. "elementwise.cu" (".cu" may be omitted).</param>
    /// <param name="kernelName">The <c>extern "C" __global__</c> name, e.g. "add_fwd_f32".</param>
    public CudaKernel GetKernel(string fileName, string kernelName)
    {
        ThrowIfDisposed();
        return _modules.GetKernel(fileName, kernelName);
    }

    /// <summary>The loaded module of <c>kernels/<paramref name="fileName"/></c>, compiling and loading it if needed.</summary>
    /// <param name="fileName">The kernel file, e.g. "elementwise.cu".</param>
    public CudaModule GetModule(string fileName)
    {
        ThrowIfDisposed();
        return _modules.GetModule(fileName);
    }

    /// <summary>Free and total device memory in bytes, as the driver reports them.</summary>
    public (long Free, long Total) GetMemoryInfo()
    {
        MakeCurrent();
        Check(cuMemGetInfo(out nuint free, out nuint total));
        return ((long)free, (long)total);
    }

    /// <summary>Blocks until all work on the device has finished.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        Check(cuCtxSynchronize());
    }

    /// <summary>Disposes every owned object in reverse creation order, then releases the primary context.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        IDisposable[] owned;
        lock (_gate)
        {
            owned = [.. _owned];
            _owned.Clear();
        }

        try
        {
            nint context = _context.DangerousGetHandle();
            if (_currentContext != context && cuCtxSetCurrent(context) == CUresult.CUDA_SUCCESS)
            {
                _currentContext = context;
            }

            // Finish queued work first: freeing memory or destroying a stream under running kernels is undefined.
            _ = cuCtxSynchronize();
            for (int i = owned.Length - 1; i >= 0; i--)
            {
                owned[i].Dispose();
            }
        }
        finally
        {
            _disposed = true;
            _context.Dispose();
            _currentContext = 0;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Arch}, {SmCount} SMs, {TotalMemoryBytes / (1 << 20)} MiB)";

    internal void Track(IDisposable owned)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            _owned.Add(owned);
        }
    }

    internal void Untrack(IDisposable owned)
    {
        lock (_gate)
        {
            int index = _owned.LastIndexOf(owned);
            if (index >= 0)
            {
                _owned.RemoveAt(index);
            }
        }
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private int Attribute(CUdevice_attribute attribute)
    {
        Check(cuDeviceGetAttribute(out int value, attribute, Ordinal));
        return value;
    }

    private int TryAttribute(CUdevice_attribute attribute) =>
        cuDeviceGetAttribute(out int value, attribute, Ordinal) == CUresult.CUDA_SUCCESS ? value : 0;

    private static unsafe string ReadName(int device)
    {
        byte* buffer = stackalloc byte[256];
        Check(cuDeviceGetName(buffer, 256, device));
        return Marshal.PtrToStringUTF8((nint)buffer) ?? $"device {device}";
    }
}
