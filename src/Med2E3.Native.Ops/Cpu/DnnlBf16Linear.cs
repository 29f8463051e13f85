using System.Runtime.InteropServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>
/// The <see cref="CpuPrecision.Bf16"/> <see cref="PreparedLinear"/> on oneDNN's matmul (bf16 × bf16 products summed
/// in f32; AVX512-BF16 <c>vdpbf16ps</c> or AMX tiles, whichever the CPU has). The weight is rounded to bf16 once (bf16
/// storage is taken as it is; f32 and f16 are rounded to nearest even) and reordered once into oneDNN's blocked
/// layout; each call rounds the activation rows to bf16 the same way and writes f32 with the f32 bias added.
/// It computes what <see cref="WidenedLinear"/> computes in bf16 precision, up to the order of the f32 sums.
/// </summary>
public sealed unsafe class DnnlBf16Linear : PreparedLinear
{
    private readonly DnnlBf16MatMul _matmul;

    /// <summary>Rounds the stored weight to bf16 and hands it to oneDNN.</summary>
    /// <exception cref="InvalidOperationException">oneDNN is not available.</exception>
    /// <exception cref="DnnlException">A oneDNN call failed.</exception>
    public DnnlBf16Linear(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int outFeatures, int inFeatures)
        : base(outFeatures, inFeatures, storage, CpuPrecision.Bf16)
    {
        long n = (long)outFeatures * inFeatures;
        if (storage == WeightStorage.Bf16)
        {
            _matmul = new DnnlBf16MatMul(MemoryMarshal.Cast<byte, ushort>(rowMajor), outFeatures, inFeatures);
            return;
        }

        ushort* w = (ushort*)NativeMemory.AlignedAlloc((nuint)(n * 2), 64);
        try
        {
            for (long i = 0; i < n; i++)
            {
                w[i] = Tensors.Precision.FloatToBf16(Widen(rowMajor, storage, i));
            }

            _matmul = new DnnlBf16MatMul(new ReadOnlySpan<ushort>(w, checked((int)n)), outFeatures, inFeatures);
        }
        finally
        {
            NativeMemory.AlignedFree(w);
        }
    }

    /// <inheritdoc />
    public override long ResidentBytes => _matmul.WeightBytes + (long)OutFeatures * 4;

    /// <inheritdoc />
    public override string Kernel => $"oneDNN {DnnlRuntime.Version} bf16 matmul ({_matmul.Implementation})";

    /// <inheritdoc />
    public override void Forward(float* x, int m, int ldx, float* y, int ldy, float* bias)
    {
        ThrowIfDisposed();
        if (m == 0) return;
        int k = InFeatures, n = OutFeatures;
        long xLen = (long)m * k;
        ushort* xb = (ushort*)NativeMemory.AlignedAlloc((nuint)(xLen * 2), 64);
        // oneDNN's fast matmul wants a dense destination; a strided y is written through a dense copy.
        float* yd = ldy == n ? y : (float*)NativeMemory.AlignedAlloc((nuint)((long)m * n * 4), 64);
        try
        {
            for (int i = 0; i < m; i++)
            {
                Bf16Convert.FromFloat(x + (long)i * ldx, xb + (long)i * k, k);
            }

            _matmul.Execute(xb, m, yd, bias, Gemm.MaxThreads);
            if (yd != y)
            {
                for (int i = 0; i < m; i++)
                {
                    new ReadOnlySpan<float>(yd + (long)i * n, n).CopyTo(new Span<float>(y + (long)i * ldy, n));
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(xb);
            if (yd != y) NativeMemory.AlignedFree(yd);
        }
    }

    /// <inheritdoc />
    public override void Unpack(Span<float> destination)
    {
        ThrowIfDisposed();
        long n = (long)OutFeatures * InFeatures;
        ushort* w = (ushort*)NativeMemory.AlignedAlloc((nuint)(n * 2), 64);
        try
        {
            var bits = new Span<ushort>(w, checked((int)n));
            _matmul.Unpack(bits);
            Tensors.Precision.Bf16ToFloat(bits, destination);
        }
        finally
        {
            NativeMemory.AlignedFree(w);
        }
    }

    /// <inheritdoc />
    protected override void Free() => _matmul.Dispose();
}
