namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>A DICOM attribute tag (group, element), printed as the standard writes it: "(0028,0010)".</summary>
public readonly record struct DicomTag(ushort Group, ushort Element)
{
    /// <summary>The tag as one number, group in the high 16 bits (the order elements are sorted in).</summary>
    public uint Value => ((uint)Group << 16) | Element;

    /// <summary>The tag of <paramref name="value"/> (group in the high 16 bits).</summary>
    public static DicomTag From(uint value) => new((ushort)(value >> 16), (ushort)value);

    /// <inheritdoc/>
    public override string ToString() => $"({Group:X4},{Element:X4})";
}
