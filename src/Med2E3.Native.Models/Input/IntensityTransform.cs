using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// The per-voxel intensity step of preprocessing, v ↦ t(v): optionally clamp to the window, optionally min–max
/// scale, optionally invert (MONOCHROME1), each in float32 in exactly the order and the operations of
/// <see cref="Preprocess.Window"/> and <see cref="Preprocess.MinMaxNormalize"/>, so applying it voxel by voxel gives
/// the same bits as running those passes over a copy.
/// </summary>
internal readonly record struct IntensityTransform(bool Clamp, float Lo, float Hi, bool Scale, float Min, float Denom,
    bool Invert)
{
    /// <summary>The transform that leaves every value as it is.</summary>
    public static IntensityTransform Identity => new(false, 0, 0, false, 0, 1, false);

    /// <summary>True when <see cref="Apply"/> returns its argument.</summary>
    public bool IsIdentity => !Clamp && !Scale && !Invert;

    public float Apply(float x)
    {
        if (Clamp)
        {
            x = x < Lo ? Lo : x > Hi ? Hi : x;
        }

        if (Scale)
        {
            x -= Min;
            x /= Denom;
        }

        return Invert ? 1f - x : x;
    }
}
