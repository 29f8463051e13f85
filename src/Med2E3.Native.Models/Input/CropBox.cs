using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>A half-open box [D0, D1) × [H0, H1) × [W0, W1) in voxel indices of a (D, H, W) volume.</summary>
public readonly record struct CropBox(int D0, int D1, int H0, int H1, int W0, int W1)
{
    /// <summary>The box covering a whole (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>) volume.</summary>
    public static CropBox Full(int d, int h, int w) => new(0, d, 0, h, 0, w);

    /// <summary>The box with no voxels, as MONAI returns when nothing is foreground.</summary>
    public static CropBox Empty => new(0, 0, 0, 0, 0, 0);

    /// <summary>True when the box holds no voxel.</summary>
    public bool IsEmpty => D1 <= D0 || H1 <= H0 || W1 <= W0;

    /// <summary>Extent along D.</summary>
    public int Depth => D1 - D0;

    /// <summary>Extent along H.</summary>
    public int Height => H1 - H0;

    /// <summary>Extent along W.</summary>
    public int Width => W1 - W0;

    /// <inheritdoc/>
    public override string ToString() => $"[{D0}:{D1}, {H0}:{H1}, {W0}:{W1}]";
}
