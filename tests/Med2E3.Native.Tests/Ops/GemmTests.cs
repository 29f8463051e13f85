using Med2E3.Native.Ops.Cpu;

namespace Med2E3.Native.Tests.Ops;

public unsafe class GemmTests
{
    private static void Check(bool wide, bool ta, bool tb, int m, int n, int k, float beta, bool bias)
    {
        var r = new Random(m * 7 + n * 13 + k);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)r.Next(-8, 9)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)r.Next(-8, 9)).ToArray();
        var c = Enumerable.Range(0, m * n).Select(_ => (float)r.Next(-8, 9)).ToArray();
        var bi = Enumerable.Range(0, n).Select(_ => (float)r.Next(-8, 9)).ToArray();
        var expect = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (double)(tb ? b[j * k + p] : b[p * n + j]);
                expect[i * n + j] = 2 * s + beta * c[i * n + j] + (bias ? bi[j] : 0);
            }
        bool old = Gemm.UseWideKernel;
        try
        {
            Gemm.UseWideKernel = wide;
            fixed (float* pa = a, pb = b, pc = c, pbias = bi)
                Gemm.Sgemm(ta, tb, m, n, k, 2f, pa, ta ? m : k, pb, tb ? k : n, beta, pc, n, bias ? pbias : null);
        }
        finally
        {
            Gemm.UseWideKernel = old;
        }
        // Integer inputs: every product and partial sum is an exactly representable integer, so results are exact.
        for (int i = 0; i < m * n; i++) Assert.Equal(expect[i], c[i]);
    }

    [Theory]
    [InlineData(false, false, false, 97, 70, 300, 0f, true)]
    [InlineData(false, true, true, 13, 33, 517, 1f, false)]
    [InlineData(true, false, true, 200, 45, 260, 0.5f, true)]
    [InlineData(true, true, false, 7, 129, 31, 0f, false)]
    [InlineData(true, false, true, 3, 100, 64, 1f, true)]
    [InlineData(false, false, true, 1, 65, 300, 0f, true)]
    public void ExactOnIntegerInputs(bool wide, bool ta, bool tb, int m, int n, int k, float beta, bool bias) =>
        Check(wide, ta, tb, m, n, k, beta, bias);
}

public class OpRegistryTests
{
    [Fact]
    public void EveryFamilyFileExists()
    {
        string root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Med2E3.Native.sln"))) root = Path.GetDirectoryName(root)!;
        Assert.NotNull(root);
        foreach (var op in Med2E3.Native.Ops.OpRegistry.All)
            Assert.True(File.Exists(Path.Combine(root!, op.Family)), $"{op.Kind}: {op.Family} does not exist");
    }
}
