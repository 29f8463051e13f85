using System.Runtime.InteropServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>Device properties, the pool on real memory, graphs, events, pinned memory and the params-struct launch.</summary>
public class DeviceRuntimeTests(TestDevice fixture)
{
    private CudaDevice Device => fixture.Device;

    private CudaStream Stream => fixture.Stream;

    [CudaFact]
    public void DeviceReportsItsProperties()
    {
        Assert.False(string.IsNullOrWhiteSpace(Device.Name));
        Assert.Matches("^sm_[0-9]{2,3}$", Device.Arch);
        Assert.True(Device.SmCount > 0);
        Assert.Equal(32, Device.WarpSize);
        Assert.True(Device.MaxSharedMemoryPerBlockOptin >= Device.MaxSharedMemoryPerBlock);
        (long free, long total) = Device.GetMemoryInfo();
        Assert.InRange(free, 1, total);
        Assert.Equal(Device.TotalMemoryBytes, total);
    }

    [CudaFact]
    public void PoolStatsFollowRealAllocations()
    {
        // Buckets and a cache by default; with MED2E3_POOL_EXACT=1 exact sizes, and a return frees the block.
        bool exact = Device.Pool.IsExact;
        long reserved = exact ? 4_000_000 : DeviceMemoryPool.BucketSize(4_000_000);
        PoolStats before = Device.Pool.Stats;
        using (DeviceBuffer<float> a = Device.Pool.Rent<float>(1_000_000))
        {
            Assert.Equal(0UL, a.Pointer % 256);
            PoolStats during = Device.Pool.Stats;
            Assert.Equal(before.LiveBuffers + 1, during.LiveBuffers);
            Assert.Equal(before.InUseBytes + reserved, during.InUseBytes);
            Assert.Equal(before.DeviceAllocations + 1, during.DeviceAllocations);
            float[] data = CpuReference.Random(1_000_000, 1);
            Stream.Upload<float>(data, a.Pointer);
            Assert.Equal(data, Stream.Download(a));
        }

        PoolStats after = Device.Pool.Stats;
        Assert.Equal(before.LiveBuffers, after.LiveBuffers);
        long allocations = after.DeviceAllocations;
        if (exact)
        {
            Assert.Equal(before.CachedBytes, after.CachedBytes);
            Assert.Equal(before.DeviceFrees + 1, after.DeviceFrees);
        }
        else
        {
            Assert.True(after.CachedBytes >= DeviceMemoryPool.BucketSize(4_000_000));
        }

        using (Device.Pool.Rent<float>(999_999))
        {
            Assert.Equal(exact ? allocations + 1 : allocations, Device.Pool.Stats.DeviceAllocations);
        }
    }

    [CudaFact]
    public void AnImpossibleRequestThrowsOutOfMemoryNamingTheBytes()
    {
        long tooMuch = Device.TotalMemoryBytes * 2;
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => Device.Pool.Rent(tooMuch));
        Assert.Equal(tooMuch, e.RequestedBytes);
        Assert.Contains($"requested {tooMuch} B", e.Message, StringComparison.Ordinal);
        using DeviceBuffer ok = Device.Pool.Rent(1 << 20);
    }

    [CudaFact]
    public void GraphCaptureReplaysKernelsAndMemsets()
    {
        const int n = 10_000;
        float[] x = CpuReference.Random(n, 2);
        using var dx = Device.Pool.Rent<float>(n);
        using var dy = Device.Pool.Rent<float>(n);
        using var dz = Device.Pool.Rent<float>(n);
        Stream.Upload<float>(x, dx.Pointer);
        Stream.Memset32(dz.Pointer, 0, n);
        Stream.Synchronize();
        CudaKernel scale = Device.GetKernel("elementwise.cu", "scale_fwd_f32");
        CudaKernel add = Device.GetKernel("elementwise.cu", "add_fwd_f32_v2");
        using CudaStream captureStream = Device.CreateStream();
        using CudaGraph graph = CudaGraph.Capture(captureStream, s =>
        {
            s.Memset32(dz.Pointer, BitConverter.SingleToUInt32Bits(123f), n);
            scale.Launch(s, Dim3.CeilDiv(n, 256), 256, 0, new KernelArgs().Add(dx).Add(dy).Add(3f).Add(0f).Add((long)n));
            add.Launch(s, Dim3.CeilDiv(n, 1024), 256, 0, new KernelArgs().Add(dy).Add(dx).Add(dz).Add((long)n));
        });
        Assert.True(graph.NodeCount >= 3, $"{graph.NodeCount} nodes");
        Assert.Equal(0f, Stream.Download(dz)[0]); // capture records; nothing ran

        graph.Launch(Stream);
        graph.Launch(Stream);
        CpuReference.AssertClose(CpuReference.Map(x, v => 3f * v + v), Stream.Download(dz), "graph result");
    }

    [CudaFact]
    public void EventsTimeWorkAndPinnedMemoryRoundTrips()
    {
        const int n = 1 << 22;
        using PinnedHostBuffer pinned = Device.AllocatePinned(n * sizeof(float));
        Span<float> host = pinned.AsSpan<float>();
        float[] data = CpuReference.Random(n, 3);
        data.CopyTo(host);
        using var d = Device.Pool.Rent<float>(n);
        using CudaEvent start = Device.CreateEvent();
        using CudaEvent end = Device.CreateEvent();
        start.Record(Stream);
        unsafe
        {
            // SAFETY: the pinned buffer outlives the copies, and the stream is synchronised before it is read.
            Stream.CopyHostToDevice((void*)pinned.Pointer, d.Pointer, pinned.Bytes);
            Stream.CopyDeviceToHost(d.Pointer, (void*)pinned.Pointer, pinned.Bytes);
        }

        end.Record(Stream);
        end.Synchronize();
        Assert.True(end.IsCompleted());
        Assert.True(CudaEvent.ElapsedMilliseconds(start, end) > 0f);
        Assert.True(host.SequenceEqual(data));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct AxpyParams
    {
        public ulong X;
        public ulong Y;
        public float A;
        public long N;
    }

    [CudaFact]
    public void ParamsStructIsPassedByValue()
    {
        const string source = """
            struct AxpyParams { const float* x; float* y; float a; long long n; };
            static_assert(sizeof(AxpyParams) == 32, "AxpyParams layout");
            extern "C" __global__ void axpy_struct(AxpyParams p)
            {
                for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
                    p.y[i] += p.a * p.x[i];
            }
            """;
        Assert.Equal(32, Marshal.SizeOf<AxpyParams>());
        KernelBinary binary = KernelCompiler.Compile("axpy_struct.cu", source, new Dictionary<string, string>(), Device.Arch, ["--std=c++17"], false);
        using var module = new CudaModule(Device, binary);
        const int n = 5000;
        float[] x = CpuReference.Random(n, 4);
        float[] y = CpuReference.Random(n, 5);
        using var dx = Device.Pool.Rent<float>(n);
        using var dy = Device.Pool.Rent<float>(n);
        Stream.Upload<float>(x, dx.Pointer);
        Stream.Upload<float>(y, dy.Pointer);
        var p = new AxpyParams { X = dx.Pointer, Y = dy.Pointer, A = 0.25f, N = n };
        module.GetFunction("axpy_struct").Launch(Stream, Dim3.CeilDiv(n, 256), 256, 0, in p);
        CpuReference.AssertClose(CpuReference.Zip(x, y, (a, b) => b + 0.25f * a), Stream.Download(dy), "axpy_struct");
    }

    [CudaFact]
    public void LaunchMistakesAreClearErrors()
    {
        Assert.Throws<ArgumentException>(() => Device.GetKernel("elementwise.cu", "no_such_kernel"));
        Assert.Throws<FileNotFoundException>(() => Device.GetKernel("no_such_file.cu", "k"));
        CudaKernel k = Device.GetKernel("elementwise.cu", "scale_fwd_f32");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            k.Launch(Stream, 1, k.MaxThreadsPerBlock + 1, 0, new KernelArgs().Add(0UL).Add(0UL).Add(1f).Add(0f).Add(0L)));
        Assert.Contains("scale_fwd_f32", e.Message, StringComparison.Ordinal);
        Assert.True(k.Registers > 0);
        Assert.Same(k, Device.GetKernel("elementwise", "scale_fwd_f32"));
    }

    [CudaFact]
    public void DisposingADeviceDisposesWhatItOwns()
    {
        using var device = CudaDevice.Open(0);
        CudaStream stream = device.CreateStream();
        DeviceBuffer buffer = device.Pool.Rent(1 << 20);
        CudaEvent e = device.CreateEvent();
        device.Dispose();
        Assert.True(buffer.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => stream.Handle);
        Assert.Throws<ObjectDisposedException>(() => e.Handle);
        Assert.Throws<ObjectDisposedException>(() => device.CreateStream());
    }
}
