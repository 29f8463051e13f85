namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// One data element as parsed: its tag and VR, and either its value bytes (in the dataset's byte order), the items
/// of a sequence, or nothing (a value too large to keep, skipped).
/// </summary>
internal sealed class DicomElement(DicomTag tag, string vr, byte[]? value, IReadOnlyList<DicomDataset>? items)
{
    public DicomTag Tag { get; } = tag;

    public string Vr { get; } = vr;

    public byte[]? Value { get; } = value;

    public IReadOnlyList<DicomDataset>? Items { get; } = items;
}
