using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Models.Weights;

/// <summary>
/// Mimics the official inference loader, which never loads <c>text_mlp</c> (spec §5.2) and so leaves it at the
/// model-wide initialisation: weight ~ N(0, 0.02), bias 0. torch's unseeded draw cannot be reproduced, so this
/// draws from a fixed-seed generator instead (SplitMix64 + Box–Muller), identical on every machine.
/// </summary>
public static class ReferenceTextMlp
{
    /// <summary>Standard deviation of the reference initialisation.</summary>
    public const double InitStd = 0.02;

    /// <summary>Creates <c>text_mlp.weight</c> [outDim, textDim] and <c>text_mlp.bias</c> [outDim] (f32).</summary>
    public static IReadOnlyList<WeightTensor> Create(int outDim, int textDim, ulong seed)
    {
        var w = new float[checked(outDim * textDim)];
        ulong state = seed;
        for (int i = 0; i < w.Length; i += 2)
        {
            // Box–Muller: two uniforms in (0, 1] give two independent standard normals.
            double u1 = (NextUInt64(ref state) >> 11) * (1.0 / (1UL << 53));
            double u2 = (NextUInt64(ref state) >> 11) * (1.0 / (1UL << 53));
            double r = Math.Sqrt(-2.0 * Math.Log(1.0 - u1));
            w[i] = (float)(InitStd * r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < w.Length)
            {
                w[i + 1] = (float)(InitStd * r * Math.Sin(2 * Math.PI * u2));
            }
        }
        return
        [
            WeightTensor.FromFloat32("text_mlp.weight", [outDim, textDim], w),
            WeightTensor.FromFloat32("text_mlp.bias", [outDim], new float[outDim]),
        ];
    }

    private static ulong NextUInt64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
