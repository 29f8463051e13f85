namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// Where the voxels of a stored (i, j, k) array (i fastest) land in the canonical (D, H, W) array of
/// <see cref="Volume"/>: stored voxel (i, j, k) goes to canonical index
/// <c>Start + i·StrideI + j·StrideJ + k·StrideK</c>. Made by <see cref="Orientation.Layout"/>.
/// </summary>
/// <param name="D">Canonical depth.</param>
/// <param name="H">Canonical height.</param>
/// <param name="W">Canonical width.</param>
/// <param name="Start">Canonical index of stored voxel (0, 0, 0).</param>
/// <param name="StrideI">Canonical index step per stored i (±1, ±W or ±H·W).</param>
/// <param name="StrideJ">Canonical index step per stored j.</param>
/// <param name="StrideK">Canonical index step per stored k.</param>
public readonly record struct CanonicalLayout(int D, int H, int W, long Start, long StrideI, long StrideJ, long StrideK)
{
    /// <summary>True when the stored order already is the canonical order (nothing moves).</summary>
    public bool IsIdentity => Start == 0 && StrideI == 1 && StrideJ == W && StrideK == (long)H * W;

    /// <summary>The canonical index of stored voxel (<paramref name="i"/>, <paramref name="j"/>, <paramref name="k"/>).</summary>
    public long IndexOf(int i, int j, int k) => Start + i * StrideI + j * StrideJ + k * StrideK;
}
