using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Runtime;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Every kernel of cast.cu against the CPU's conversion (TensorMath, the reference named in the kernel header), bit
/// for bit: random values and the edge cases of each format (zeros of both signs, infinities, NaN, ties of the
/// rounding, f16 subnormals and overflow), with a length that takes the 4-wide path and one that takes the scalar
/// path. The op library launches only the casts from f32; the others are checked here.
/// </summary>
public class CastKernelTests(TestDevice fixture)
{
    private Device Cuda => OpConformance.Backend(fixture).TensorDevice;

    public static TheoryData<DType, DType, int> Pairs()
    {
        var data = new TheoryData<DType, DType, int>();
        foreach (var (from, to) in new[]
                 {
                     (DType.F32, DType.BF16), (DType.BF16, DType.F32), (DType.F32, DType.F16), (DType.F16, DType.F32),
                     (DType.BF16, DType.F16), (DType.F16, DType.BF16),
                 })
        {
            data.Add(from, to, 1024);
            data.Add(from, to, 1001);
        }

        return data;
    }

    private static float[] Values(int n)
    {
        float[] special =
        [
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, -float.MaxValue,
            1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 2048, 1f + 3f / 2048,  // ties of bf16 and f16 rounding
            65504f, 65519.99f, 65520f, 70000f, -1e6f,                       // the top of f16, and past it
            6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 3e-8f, 1e-6f, -1e-7f, // f16 normal/subnormal limits
            1e-38f, 1e-42f,                                                  // f32 subnormal
        ];
        var rng = new Random(11);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            v[i] = i < special.Length ? special[i] : (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-30, 30)));
        }

        return v;
    }

    [CudaTheory]
    [MemberData(nameof(Pairs))]
    public void MatchesTheCpuConversionBitForBit(DType from, DType to, int n)
    {
        using var f32 = Tensor.FromArray(Values(n), n);
        using var source = f32.To(from);                  // (n) the input, already in the source format
        using var want = source.To(to);                   // (n) the CPU's conversion
        using var x = source.To(Cuda);
        using var y = Tensor.Empty([n], to, Cuda);
        string kernel = $"cast_fwd_{Name(from)}_to_{Name(to)}";
        fixture.Device.GetKernel("cast.cu", kernel).Launch(fixture.Stream, Dim3.CeilDiv(n, 1024), 256, 0,
            new KernelArgs().Add(CudaBackend.Ptr(x)).Add(CudaBackend.Ptr(y)).Add((long)n));
        double[] got = y.ToDoubleArray(), expected = want.ToDoubleArray();
        for (int i = 0; i < n; i++)
        {
            bool same = double.IsNaN(expected[i])
                ? double.IsNaN(got[i])
                : BitConverter.DoubleToInt64Bits(got[i]) == BitConverter.DoubleToInt64Bits(expected[i]);
            Assert.True(same, $"{kernel}[{i}]: {source.ToDoubleArray()[i]:R} became {got[i]:R}, the CPU gives {expected[i]:R}");
        }
    }

    private static string Name(DType t) => t switch
    {
        DType.F32 => "f32",
        DType.BF16 => "bf16",
        DType.F16 => "f16",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}
