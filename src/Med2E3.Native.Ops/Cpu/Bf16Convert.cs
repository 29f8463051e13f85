using System.Runtime.Intrinsics;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>
/// f32 → bf16 rounding of whole rows, vectorised: round to nearest, ties to even, NaN kept a quiet NaN — bit for bit
/// <see cref="Tensors.Precision.FloatToBf16(float)"/>, which is the scalar definition (and the tail loop here).
/// </summary>
public static unsafe class Bf16Convert
{
    /// <summary>dst[i] = bf16(src[i]) for i &lt; <paramref name="n"/>.</summary>
    public static void FromFloat(float* src, ushort* dst, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                Vector512<ushort> lo = Round512(Vector512.Load((uint*)(src + i)));
                Vector512<ushort> hi = Round512(Vector512.Load((uint*)(src + i + 16)));
                Vector512.Narrow(lo.AsUInt32(), hi.AsUInt32()).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                Vector256<ushort> lo = Round256(Vector256.Load((uint*)(src + i)));
                Vector256<ushort> hi = Round256(Vector256.Load((uint*)(src + i + 8)));
                Vector256.Narrow(lo.AsUInt32(), hi.AsUInt32()).Store(dst + i);
            }
        }

        for (; i < n; i++)
        {
            dst[i] = Tensors.Precision.FloatToBf16(src[i]);
        }
    }

    // Each 32-bit lane ends holding its bf16 in the low half, so a narrowing of two vectors packs them in order.
    private static Vector512<ushort> Round512(Vector512<uint> u)
    {
        Vector512<uint> lsb = (u >>> 16) & Vector512<uint>.One;
        Vector512<uint> rounded = (u + Vector512.Create(0x7FFFu) + lsb) >>> 16;
        Vector512<uint> nan = Vector512.GreaterThan(u & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        Vector512<uint> quiet = (u >>> 16) | Vector512.Create(0x0040u);
        return Vector512.ConditionalSelect(nan, quiet, rounded).AsUInt16();
    }

    private static Vector256<ushort> Round256(Vector256<uint> u)
    {
        Vector256<uint> lsb = (u >>> 16) & Vector256<uint>.One;
        Vector256<uint> rounded = (u + Vector256.Create(0x7FFFu) + lsb) >>> 16;
        Vector256<uint> nan = Vector256.GreaterThan(u & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        Vector256<uint> quiet = (u >>> 16) | Vector256.Create(0x0040u);
        return Vector256.ConditionalSelect(nan, quiet, rounded).AsUInt16();
    }
}
