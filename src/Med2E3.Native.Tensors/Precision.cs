using System.Runtime.CompilerServices;

namespace Med2E3.Native.Tensors;

/// <summary>bfloat16 and float16 conversions, round-to-nearest-even.</summary>
public static class Precision
{
    /// <summary>Rounds a float to bfloat16 bits (round to nearest, ties to even; NaN stays a quiet NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040);
        uint lsb = (u >> 16) & 1u;
        u += 0x7FFFu + lsb;
        return (ushort)(u >> 16);
    }

    /// <summary>Widens bfloat16 bits to a float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Rounds a float to binary16 (round to nearest, ties to even).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Half FloatToF16(float f) => (Half)f;

    /// <summary>Widens a binary16 to a float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToFloat(Half h) => (float)h;

    /// <summary>The float nearest to <paramref name="f"/> that bfloat16 can represent.</summary>
    public static float RoundToBf16(float f) => Bf16ToFloat(FloatToBf16(f));

    /// <summary>The float nearest to <paramref name="f"/> that binary16 can represent.</summary>
    public static float RoundToF16(float f) => (float)(Half)f;

    /// <summary>Converts a span of floats to bfloat16 bits.</summary>
    public static void FloatToBf16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = FloatToBf16(src[i]);
    }

    /// <summary>Converts a span of bfloat16 bits to floats.</summary>
    public static void Bf16ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = Bf16ToFloat(src[i]);
    }
}
