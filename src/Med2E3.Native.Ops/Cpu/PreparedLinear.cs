using System.Runtime.InteropServices;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>How matrix products of frozen weights are computed on the CPU.</summary>
public enum CpuPrecision
{
    /// <summary>f32 × f32 → f32 with the weights widened exactly from their storage dtype (the definition).</summary>
    F32,

    /// <summary>bf16 × bf16 → f32: activations rounded to bf16 at each product, weights as stored (or rounded once).</summary>
    Bf16,
}

/// <summary>Element type of a weight as it is stored in the checkpoint.</summary>
public enum WeightStorage
{
    /// <summary>IEEE binary32.</summary>
    F32,

    /// <summary>bfloat16 (the released checkpoints).</summary>
    Bf16,

    /// <summary>IEEE binary16.</summary>
    F16,
}

/// <summary>
/// A frozen linear weight W [out, in] (PyTorch <c>nn.Linear</c> layout), prepared once at load for CPU inference:
/// held in its storage dtype or a packed form of it, never widened whole per call. <see cref="Forward"/> computes
/// y = x·Wᵀ + b for f32 activations. Instances own native memory: dispose them (the model's parameter set does).
/// <para>Made by <see cref="Create"/>, which picks the implementation for the precision and the machine.</para>
/// </summary>
public abstract unsafe class PreparedLinear : IDisposable
{
    /// <summary>Checks and records the geometry; implementations allocate their own storage.</summary>
    protected PreparedLinear(int outFeatures, int inFeatures, WeightStorage storage, CpuPrecision precision)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        Storage = storage;
        Precision = precision;
    }

    /// <summary>Rows of W (N).</summary>
    public int OutFeatures { get; }

    /// <summary>Columns of W (K).</summary>
    public int InFeatures { get; }

    /// <summary>Storage dtype the weight came from.</summary>
    public WeightStorage Storage { get; }

    /// <summary>The precision this weight computes in.</summary>
    public CpuPrecision Precision { get; }

    /// <summary>Bytes of native memory this weight holds.</summary>
    public abstract long ResidentBytes { get; }

    /// <summary>Which kernel runs the products (for <c>med2e3 info</c> and benchmarks), e.g. "packed bf16 panels, AVX-512 12x32".</summary>
    public abstract string Kernel { get; }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>
    /// y[i, j] = Σp x[i, p]·W[j, p] + bias[j] for i &lt; m: x is [m, in] with row stride <paramref name="ldx"/>,
    /// y is [m, out] with row stride <paramref name="ldy"/> (overwritten), bias is [out] or null.
    /// </summary>
    public abstract void Forward(float* x, int m, int ldx, float* y, int ldy, float* bias);

    /// <summary>
    /// dx[i, p] = Σj dy[i, j]·W[j, p] (the input gradient through the frozen weight): dy [m, out], dx [m, in]
    /// (overwritten). The default unpacks W to f32 once per call.
    /// </summary>
    public virtual void BackwardInput(float* dy, int m, float* dx)
    {
        long n = (long)OutFeatures * InFeatures;
        float* w = (float*)NativeMemory.AlignedAlloc((nuint)(n * 4), 64);
        try
        {
            Unpack(new Span<float>(w, checked((int)n)));
            Gemm.Sgemm(false, false, m, InFeatures, OutFeatures, 1f, dy, OutFeatures, w, InFeatures, 0f, dx,
                InFeatures, null);
        }
        finally
        {
            NativeMemory.AlignedFree(w);
        }
    }

    /// <summary>
    /// Writes W [out, in] row-major as f32 into <paramref name="destination"/>: exactly the stored values (for
    /// <see cref="CpuPrecision.Bf16"/> from f32 storage: the bf16-rounded values the products use).
    /// </summary>
    public abstract void Unpack(Span<float> destination);

    /// <summary>Frees the native memory.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the implementation holds (called once).</summary>
    protected abstract void Free();

    /// <summary>Throws when disposed.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>
    /// Makes the prepared form of W [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] from its stored
    /// little-endian bytes (row-major; bf16/f16 as 2-byte words). The bytes are read during the call only (they may
    /// be a memory-mapped view of the checkpoint).
    /// </summary>
    public static PreparedLinear Create(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int outFeatures,
        int inFeatures, CpuPrecision precision)
    {
        long expect = (long)outFeatures * inFeatures * (storage == WeightStorage.F32 ? 4 : 2);
        if (rowMajor.Length != expect)
        {
            throw new ArgumentException(
                $"PreparedLinear.Create: {rowMajor.Length} bytes for a [{outFeatures}, {inFeatures}] {storage} weight " +
                $"(needs {expect})", nameof(rowMajor));
        }
        return precision switch
        {
            CpuPrecision.F32 => CreateF32(rowMajor, storage, outFeatures, inFeatures),
            CpuPrecision.Bf16 => CreateBf16(rowMajor, storage, outFeatures, inFeatures),
            _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown CPU precision"),
        };
    }

    // The two factories below are the places where the optimised implementations plug in.
    // Packed panels where the CPU runs 512-bit vectors natively; elsewhere the reference (the packed kernels are
    // exact everywhere but slow when Vector512 is emulated).
    private static PreparedLinear CreateF32(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int n, int k) =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated
            ? new PackedLinear(rowMajor, storage, n, k, CpuPrecision.F32)
            : new WidenedLinear(rowMajor, storage, n, k, CpuPrecision.F32);

    // oneDNN where it runs bf16 natively (CpuMatMulPath.Bf16UsesDnnl), the project's own kernels otherwise.
    private static PreparedLinear CreateBf16(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int n, int k)
    {
        if (CpuMatMulPath.Bf16UsesDnnl)
        {
            return new DnnlBf16Linear(rowMajor, storage, n, k);
        }

        // The project's own kernels: bf16-rounded panels and activations on the packed f32 FMA kernels (the numbers of
        // a bf16 unit with f32 accumulation), or the reference where 512-bit vectors are emulated.
        return System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated
            ? new PackedLinear(rowMajor, storage, n, k, CpuPrecision.Bf16)
            : new WidenedLinear(rowMajor, storage, n, k, CpuPrecision.Bf16);
    }

    /// <summary>Widens stored element <paramref name="i"/> to f32 (exact).</summary>
    internal static float Widen(ReadOnlySpan<byte> rowMajor, WeightStorage storage, long i) => storage switch
    {
        WeightStorage.F32 => MemoryMarshal.Read<float>(rowMajor.Slice(checked((int)(i * 4)), 4)),
        WeightStorage.Bf16 => Tensors.Precision.Bf16ToFloat(MemoryMarshal.Read<ushort>(rowMajor.Slice(checked((int)(i * 2)), 2))),
        _ => (float)MemoryMarshal.Read<Half>(rowMajor.Slice(checked((int)(i * 2)), 2)),
    };
}

/// <summary>
/// The reference <see cref="PreparedLinear"/>: W widened once to f32 [out, in] and multiplied with the generic
/// blocked GEMM (B transposed). In <see cref="CpuPrecision.Bf16"/> the weight is rounded to bf16 once and each
/// activation row is rounded to bf16 before the product, which is what a bf16 × bf16 → f32 unit computes.
/// </summary>
public sealed unsafe class WidenedLinear : PreparedLinear
{
    private float* _w;

    /// <summary>Widens (and in bf16 precision rounds) the stored weight once.</summary>
    public WidenedLinear(ReadOnlySpan<byte> rowMajor, WeightStorage storage, int outFeatures, int inFeatures,
        CpuPrecision precision) : base(outFeatures, inFeatures, storage, precision)
    {
        long n = (long)outFeatures * inFeatures;
        _w = (float*)NativeMemory.AlignedAlloc((nuint)(n * 4), 64);
        for (long i = 0; i < n; i++)
        {
            float v = Widen(rowMajor, storage, i);
            _w[i] = precision == CpuPrecision.Bf16 ? Tensors.Precision.RoundToBf16(v) : v;
        }
    }

    /// <summary>Frees the widened weight when it was not disposed.</summary>
    ~WidenedLinear() => Free();

    /// <inheritdoc />
    public override long ResidentBytes => (long)OutFeatures * InFeatures * 4;

    /// <inheritdoc />
    public override string Kernel => "widened f32 weight, blocked GEMM (reference)";

    /// <inheritdoc />
    public override void Forward(float* x, int m, int ldx, float* y, int ldy, float* bias)
    {
        ThrowIfDisposed();
        if (Precision == CpuPrecision.Bf16)
        {
            long len = (long)m * InFeatures;
            float* xr = (float*)NativeMemory.AlignedAlloc((nuint)(len * 4), 64);
            try
            {
                for (int i = 0; i < m; i++)
                    for (int p = 0; p < InFeatures; p++)
                        xr[(long)i * InFeatures + p] = Tensors.Precision.RoundToBf16(x[(long)i * ldx + p]);
                Gemm.Sgemm(false, true, m, OutFeatures, InFeatures, 1f, xr, InFeatures, _w, InFeatures, 0f, y, ldy, bias);
            }
            finally
            {
                NativeMemory.AlignedFree(xr);
            }
            return;
        }
        Gemm.Sgemm(false, true, m, OutFeatures, InFeatures, 1f, x, ldx, _w, InFeatures, 0f, y, ldy, bias);
    }

    /// <inheritdoc />
    public override void BackwardInput(float* dy, int m, float* dx)
    {
        ThrowIfDisposed();
        Gemm.Sgemm(false, false, m, InFeatures, OutFeatures, 1f, dy, OutFeatures, _w, InFeatures, 0f, dx, InFeatures, null);
    }

    /// <inheritdoc />
    public override void Unpack(Span<float> destination)
    {
        ThrowIfDisposed();
        new ReadOnlySpan<float>(_w, checked(OutFeatures * InFeatures)).CopyTo(destination);
    }

    /// <inheritdoc />
    protected override void Free()
    {
        if (_w != null)
        {
            NativeMemory.AlignedFree(_w);
            _w = null;
        }
    }
}
