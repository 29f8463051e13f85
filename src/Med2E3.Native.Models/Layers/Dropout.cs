using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Layers;

/// <summary>
/// Training-mode (inverted) dropout with host-drawn masks: every element is kept with probability 1 − p and then
/// scaled by 1/(1 − p), or zeroed. The keep decisions come from a <see cref="SeededRandom"/> in row-major order of
/// the input's shape (one draw per element: keep iff u ≥ p, u ~ U[0, 1)), so the same seed gives the same mask on
/// every device. The mask (0 or 1/(1 − p), in the input's dtype) is applied with <see cref="F.Mul"/>, so gradients flow
/// through it (bf16/f16 inputs are multiplied in fp32 and rounded once). p = 0 is the identity (no draw, no op),
/// which is also evaluation mode.
/// <code>
/// var drop = new Dropout(0.1, new SeededRandom(seed));
/// var y = drop.Apply(x);          // same shape as x
/// </code>
/// </summary>
public sealed class Dropout
{
    private readonly SeededRandom _rng;

    /// <summary>Dropout with rate <paramref name="p"/> ∈ [0, 1) drawing its masks from <paramref name="rng"/>.</summary>
    public Dropout(double p, SeededRandom rng)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout.cs: the dropout rate must be in [0, 1)");
        P = p;
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>Probability of zeroing an element.</summary>
    public double P { get; }

    /// <summary>Elements drawn so far (for logging and tests).</summary>
    public long Draws { get; private set; }

    /// <summary>
    /// A separate, reproducible generator for one use of a training seed: stream 1 is the TG-IS score dropout, 2 the
    /// BERT dropout, so enabling one does not shift the masks of the other.
    /// </summary>
    public static SeededRandom Stream(long seed, int stream)
    {
        var mixer = new SeededRandom(unchecked(seed + stream * 0x632BE59BD9B4E019L));
        return new SeededRandom(unchecked((long)mixer.NextUInt64()));
    }

    /// <summary>The next scaled keep mask for <paramref name="count"/> elements: 0 (dropped) or 1/(1 − p) (kept).</summary>
    public double[] NextMask(int count)
    {
        var mask = new double[count];
        double keep = 1.0 / (1.0 - P);
        for (int i = 0; i < count; i++)
        {
            mask[i] = _rng.NextDouble() >= P ? keep : 0.0;
        }
        Draws += count;
        return mask;
    }

    /// <summary>x ⊙ mask, the mask drawn for x's shape (row-major) and placed on x's device and dtype. Any shape.</summary>
    public Tensor Apply(Tensor x)
    {
        if (P == 0) return x.Alias();
        using var scope = TensorScope.Begin();
        int[] shape = x.Shape;
        using var host = Tensor.FromArray(NextMask(checked((int)x.Numel)), shape);          // (x…) F64 on the host
        if (x.DType is DType.BF16 or DType.F16)
        {
            // 1/(1 − p) is not representable in 16 bits (1/0.9 → 1.109 in bf16): multiply in fp32 and round the
            // product once, as torch's dropout does with its fp32 scale.
            var mask32 = host.To(DType.F32).To(x.Device);                                   // (x…) F32
            return scope.Keep(F.Mul(x.To(DType.F32), mask32).To(x.DType));                 // (x…)
        }
        var mask = host.To(x.DType).To(x.Device);                                           // (x…)
        return scope.Keep(F.Mul(x, mask));                                                  // (x…)
    }
}
