namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Bounds that keep a hostile file from costing unbounded memory or time: every length is checked against these and
/// against the bytes left in the file before anything is allocated.
/// </summary>
internal static class DicomLimits
{
    /// <summary>Deepest sequence nesting accepted (enhanced multi-frame files use 3 levels).</summary>
    public const int MaxDepth = 16;

    /// <summary>Most data elements (items included) in one file.</summary>
    public const int MaxElements = 4_000_000;

    /// <summary>Largest element value kept in memory; larger values (not ones the reader uses) are skipped.</summary>
    public const int MaxKeptValue = 1 << 20;

    /// <summary>Most bytes of element values kept for one file.</summary>
    public const long MaxKeptBytes = 256L << 20;

    /// <summary>Most fragments of encapsulated pixel data in one file.</summary>
    public const int MaxFragments = 1_000_000;

    /// <summary>Most files looked at under one folder.</summary>
    public const int MaxFiles = 200_000;

    /// <summary>Deepest folder nesting searched under a folder.</summary>
    public const int MaxFolderDepth = 32;
}
