using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>kernels/elementwise.cu against the CPU reference on random non-zero inputs, odd sizes, with guard bands.</summary>
public class ElementwiseKernelTests(TestDevice fixture)
{
    private const int Guard = 64;
    private const uint Canary = 0x7fc0dead;

    public static TheoryData<int> Sizes() => new(1, 7, 1023, 100_003);

    private CudaDevice Device => fixture.Device;

    private CudaStream Stream => fixture.Stream;

    /// <summary>A buffer with <see cref="Guard"/> canary words after the data.</summary>
    private DeviceBuffer<T> Alloc<T>(int n)
        where T : unmanaged
    {
        DeviceBuffer<T> buffer = Device.Pool.Rent<T>(n + Guard * 4);
        Stream.Memset32(buffer.Pointer, Canary, buffer.Bytes / 4);
        return buffer;
    }

    private T[] Read<T>(DeviceBuffer<T> buffer, int n)
        where T : unmanaged
    {
        var all = new uint[buffer.Bytes / 4];
        Stream.Download(buffer.Pointer, all.AsSpan());
        var data = new T[n];
        Stream.Download(buffer.Pointer, data.AsSpan());
        int firstGuardWord = (int)((n * (long)System.Runtime.CompilerServices.Unsafe.SizeOf<T>() + 3) / 4);
        for (int i = firstGuardWord; i < all.Length; i++)
        {
            Assert.True(all[i] == Canary, $"guard word {i} overwritten (n = {n})");
        }

        return data;
    }

    private DeviceBuffer<T> Upload<T>(T[] data)
        where T : unmanaged
    {
        DeviceBuffer<T> buffer = Alloc<T>(data.Length);
        Stream.Upload<T>(data, buffer.Pointer);
        return buffer;
    }

    private void Launch(string kernel, long n, int perThread, KernelArgs args) =>
        Device.GetKernel("elementwise.cu", kernel).Launch(Stream, Dim3.CeilDiv(n, 256L * perThread), 256, 0, args);

    [CudaTheory]
    [MemberData(nameof(Sizes))]
    public void AddF32BothVariants(int n)
    {
        float[] a = CpuReference.Random(n, 1);
        float[] b = CpuReference.Random(n, 2);
        float[] expected = CpuReference.Zip(a, b, (x, y) => x + y);
        using var da = Upload(a);
        using var db = Upload(b);
        foreach ((string kernel, int perThread) in new[] { ("add_fwd_f32_v1", 1), ("add_fwd_f32_v2", 4) })
        {
            using var dy = Alloc<float>(n);
            Launch(kernel, n, perThread, new KernelArgs().Add(da).Add(db).Add(dy).Add((long)n));
            CpuReference.AssertClose(expected, Read(dy, n), kernel);
        }
    }

    [CudaFact]
    public void AddF32V2HandlesMisalignedPointers()
    {
        // Offsetting every pointer by one float forces the scalar path of v2.
        const int n = 4099;
        float[] a = CpuReference.Random(n + 1, 3);
        float[] b = CpuReference.Random(n + 1, 4);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dy = Alloc<float>(n + 1);
        Launch("add_fwd_f32_v2", n, 4, new KernelArgs().Add(da.Pointer + 4).Add(db.Pointer + 4).Add(dy.Pointer + 4).Add((long)n));
        float[] y = Read(dy, n + 1);
        CpuReference.AssertClose(CpuReference.Zip(a[1..], b[1..], (x, z) => x + z), y[1..], "add_fwd_f32_v2 misaligned");
    }

    [CudaTheory]
    [MemberData(nameof(Sizes))]
    public void BinaryAndScaleF32(int n)
    {
        float[] a = CpuReference.Random(n, 5);
        float[] b = CpuReference.Random(n, 6);
        using var da = Upload(a);
        using var db = Upload(b);

        foreach ((string kernel, Func<float, float, float> f) in new (string, Func<float, float, float>)[]
                 {
                     ("sub_fwd_f32", (x, y) => x - y), ("mul_fwd_f32", (x, y) => x * y), ("div_fwd_f32", (x, y) => x / y),
                 })
        {
            using var dy = Alloc<float>(n);
            Launch(kernel, n, 1, new KernelArgs().Add(da).Add(db).Add(dy).Add((long)n));
            CpuReference.AssertClose(CpuReference.Zip(a, b, f), Read(dy, n), kernel);
        }

        using (var dy = Alloc<float>(n))
        {
            Launch("scale_fwd_f32", n, 1, new KernelArgs().Add(da).Add(dy).Add(-0.75f).Add(0.125f).Add((long)n));
            CpuReference.AssertClose(CpuReference.Map(a, x => MathF.FusedMultiplyAdd(-0.75f, x, 0.125f)), Read(dy, n), "scale_fwd_f32");
        }

        using (var dy = Upload(b))
        {
            Launch("axpby_fwd_f32", n, 1, new KernelArgs().Add(da).Add(dy).Add(1.5f).Add(0.5f).Add((long)n));
            CpuReference.AssertClose(CpuReference.Zip(a, b, (x, y) => 1.5f * x + 0.5f * y), Read(dy, n), "axpby_fwd_f32");
        }

        using (var dy = Alloc<float>(n))
        {
            // beta = 0 must ignore y entirely: the canary words in y are NaN bit patterns.
            Stream.Memset32(dy.Pointer, 0x7fc00000, n);
            Launch("axpby_fwd_f32", n, 1, new KernelArgs().Add(da).Add(dy).Add(2f).Add(0f).Add((long)n));
            CpuReference.AssertClose(CpuReference.Map(a, x => 2f * x), Read(dy, n), "axpby_fwd_f32 beta = 0");
        }
    }

    [CudaTheory]
    [MemberData(nameof(Sizes))]
    public void BackwardF32(int n)
    {
        float[] dyv = CpuReference.Random(n, 7);
        float[] a = CpuReference.Random(n, 8);
        float[] b = CpuReference.Random(n, 9);
        using var ddy = Upload(dyv);
        using var dA = Upload(a);
        using var dB = Upload(b);

        using (var da = Alloc<float>(n))
        using (var db = Alloc<float>(n))
        {
            Launch("mul_bwd_f32", n, 1, new KernelArgs().Add(ddy).Add(dA).Add(dB).Add(da).Add(db).Add((long)n));
            CpuReference.AssertClose(CpuReference.Zip(dyv, b, (g, v) => g * v), Read(da, n), "mul_bwd_f32 da");
            CpuReference.AssertClose(CpuReference.Zip(dyv, a, (g, v) => g * v), Read(db, n), "mul_bwd_f32 db");
        }

        using (var da = Alloc<float>(n))
        using (var db = Alloc<float>(n))
        {
            Launch("div_bwd_f32", n, 1, new KernelArgs().Add(ddy).Add(dA).Add(dB).Add(da).Add(db).Add((long)n));
            var expectedDb = new float[n];
            for (int i = 0; i < n; i++)
            {
                expectedDb[i] = (float)(-(double)dyv[i] * a[i] / ((double)b[i] * b[i]));
            }

            CpuReference.AssertClose(CpuReference.Zip(dyv, b, (g, v) => g / v), Read(da, n), "div_bwd_f32 da");
            CpuReference.AssertClose(expectedDb, Read(db, n), "div_bwd_f32 db");
        }
    }

    [CudaTheory]
    [MemberData(nameof(Sizes))]
    public void Bf16KernelsRoundOnceLikeTheReference(int n)
    {
        ushort[] a = CpuReference.ToBf16(CpuReference.Random(n, 10));
        ushort[] b = CpuReference.ToBf16(CpuReference.Random(n, 11));
        using var da = Upload(a);
        using var db = Upload(b);

        // Each result is an f32 operation on two bf16 values rounded once to bf16; the f32 operations are correctly
        // rounded on both sides, so GPU and CPU agree bit for bit.
        foreach ((string kernel, Func<float, float, float> f) in new (string, Func<float, float, float>)[]
                 {
                     ("add_fwd_bf16", (x, y) => x + y), ("sub_fwd_bf16", (x, y) => x - y),
                     ("mul_fwd_bf16", (x, y) => x * y), ("div_fwd_bf16", (x, y) => x / y),
                 })
        {
            using var dy = Alloc<ushort>(n);
            Launch(kernel, n, 1, new KernelArgs().Add(da).Add(db).Add(dy).Add((long)n));
            Assert.Equal(CpuReference.ZipBf16(a, b, f), Read(dy, n));
        }

        using (var dy = Alloc<ushort>(n))
        {
            Launch("scale_fwd_bf16", n, 1, new KernelArgs().Add(da).Add(dy).Add(0.3f).Add(-1f).Add((long)n));
            Assert.Equal(CpuReference.MapBf16(a, x => MathF.FusedMultiplyAdd(0.3f, x, -1f)), Read(dy, n));
        }

        using (var dy = Upload(b))
        {
            Launch("axpby_fwd_bf16", n, 1, new KernelArgs().Add(da).Add(dy).Add(1f).Add(1f).Add((long)n));
            Assert.Equal(CpuReference.ZipBf16(a, b, (x, y) => 1f * x + 1f * y), Read(dy, n));
        }

        using (var da2 = Alloc<ushort>(n))
        using (var db2 = Alloc<ushort>(n))
        {
            using var dg = Upload(b);
            Launch("mul_bwd_bf16", n, 1, new KernelArgs().Add(dg).Add(da).Add(db).Add(da2).Add(db2).Add((long)n));
            Assert.Equal(CpuReference.ZipBf16(b, b, (g, v) => g * v), Read(da2, n));
            Assert.Equal(CpuReference.ZipBf16(b, a, (g, v) => g * v), Read(db2, n));
        }
    }

    [CudaFact]
    public void GridSmallerThanTheArrayStillCoversItThroughTheStrideLoop()
    {
        const int n = 1 << 20;
        float[] a = CpuReference.Random(n, 12);
        using var da = Upload(a);
        using var dy = Alloc<float>(n);
        Device.GetKernel("elementwise", "scale_fwd_f32").Launch(Stream, 3, 128, 0, new KernelArgs().Add(da).Add(dy).Add(2f).Add(0f).Add((long)n));
        CpuReference.AssertClose(CpuReference.Map(a, x => 2f * x), Read(dy, n), "scale_fwd_f32 small grid");
    }
}
