using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Runtime;

/// <summary>kernels/reduce.cu against the CPU reference: NMSE ≤ 1e-7 for f32, bf16 within 2× the CPU error.</summary>
public class ReduceKernelTests(TestDevice fixture)
{
    public static TheoryData<int, int> Shapes() => new()
    {
        { 1, 1 }, { 3, 7 }, { 33, 255 }, { 17, 1000 }, { 5, 4099 }, { 513, 768 }, { 2, 65_537 },
    };

    private CudaDevice Device => fixture.Device;

    private CudaStream Stream => fixture.Stream;

    private float[] RunF32(string kernel, float[] x, int rows, int cols, bool blockPerRow)
    {
        using var dx = Device.Pool.Rent<float>(x.Length);
        using var dy = Device.Pool.Rent<float>(rows);
        Stream.Upload<float>(x, dx.Pointer);
        Dim3 grid = blockPerRow ? new Dim3((uint)rows) : new Dim3(Dim3.CeilDiv(rows, 256));
        Device.GetKernel("reduce.cu", kernel).Launch(Stream, grid, 256, 0, new KernelArgs().Add(dx).Add(dy).Add((long)rows).Add(cols));
        return Stream.Download(dy);
    }

    [CudaTheory]
    [MemberData(nameof(Shapes))]
    public void SumAndMeanF32(int rows, int cols)
    {
        float[] x = CpuReference.Random(rows * cols, rows * 31 + cols);
        double[] exact = CpuReference.SumExact(x, rows, cols);
        double[] exactMean = Array.ConvertAll(exact, s => s / cols);
        foreach ((string kernel, bool blockPerRow, double[] reference) in new[]
                 {
                     ("sum_fwd_f32_v1", false, exact), ("sum_fwd_f32_v2", true, exact), ("mean_fwd_f32", true, exactMean),
                 })
        {
            float[] y = RunF32(kernel, x, rows, cols, blockPerRow);
            double nmse = CpuReference.Nmse(reference, y);
            Assert.True(nmse <= 1e-7, $"{kernel} ({rows}, {cols}): NMSE {nmse:G3}");
        }

        // The CPU reference itself meets the same bound (it is the definition the kernels are held to).
        Assert.True(CpuReference.Nmse(exact, CpuReference.Sum(x, rows, cols)) <= 1e-7);
    }

    [CudaTheory]
    [MemberData(nameof(Shapes))]
    public void SumAndMeanBf16(int rows, int cols)
    {
        ushort[] x = CpuReference.ToBf16(CpuReference.Random(rows * cols, rows * 7 + cols));
        float[] xw = CpuReference.FromBf16(x);
        double[] exact = CpuReference.SumExact(xw, rows, cols);
        foreach ((string kernel, double divisor) in new[] { ("sum_fwd_bf16", 1.0), ("mean_fwd_bf16", (double)cols) })
        {
            using var dx = Device.Pool.Rent<ushort>(x.Length);
            using var dy = Device.Pool.Rent<ushort>(rows);
            Stream.Upload<ushort>(x, dx.Pointer);
            Device.GetKernel("reduce.cu", kernel).Launch(Stream, rows, 256, 0, new KernelArgs().Add(dx).Add(dy).Add((long)rows).Add(cols));
            float[] device = CpuReference.FromBf16(Stream.Download(dy));
            float[] cpuF32 = divisor == 1.0 ? CpuReference.Sum(xw, rows, cols) : CpuReference.Mean(xw, rows, cols);
            float[] cpu = Array.ConvertAll(cpuF32, v => CpuReference.FromBf16(CpuReference.ToBf16(v)));
            double[] oracle = Array.ConvertAll(exact, s => s / divisor);
            CpuReference.AssertBf16WithinTwiceCpu(device, cpu, oracle, kernel);
        }
    }

    [CudaTheory]
    [MemberData(nameof(Shapes))]
    public void BackwardBroadcasts(int rows, int cols)
    {
        float[] dy = CpuReference.Random(rows, rows + cols);
        using var ddy = Device.Pool.Rent<float>(rows);
        using var ddx = Device.Pool.Rent<float>((long)rows * cols);
        Stream.Upload<float>(dy, ddy.Pointer);
        foreach ((string kernel, float divisor) in new[] { ("sum_bwd_f32", 1f), ("mean_bwd_f32", (float)cols) })
        {
            Device.GetKernel("reduce.cu", kernel).Launch(
                Stream, Dim3.CeilDiv((long)rows * cols, 256), 256, 0, new KernelArgs().Add(ddy).Add(ddx).Add((long)rows).Add(cols));
            float[] dx = Stream.Download(ddx);
            var expected = new float[rows * cols];
            for (int i = 0; i < expected.Length; i++)
            {
                expected[i] = dy[i / cols] / divisor;
            }

            CpuReference.AssertClose(expected, dx, kernel);
        }
    }
}
