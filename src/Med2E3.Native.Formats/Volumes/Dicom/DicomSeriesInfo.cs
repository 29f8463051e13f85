namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>One series (one stack of same-sized, same-orientation images) found in a DICOM file or folder.</summary>
/// <param name="Number">1-based position in the listing (what <see cref="VolumeReadOptions.Series"/> accepts besides the UID).</param>
/// <param name="SeriesInstanceUid">SeriesInstanceUID (0020,000E).</param>
/// <param name="SeriesNumber">SeriesNumber (0020,0011), or null.</param>
/// <param name="Modality">Modality (0008,0060), e.g. CT or MR.</param>
/// <param name="Description">SeriesDescription (0008,103E), or null.</param>
/// <param name="Images">Number of image planes (frames).</param>
/// <param name="Files">Number of files.</param>
/// <param name="Rows">Rows of each image.</param>
/// <param name="Columns">Columns of each image.</param>
/// <param name="Folder">The folder of its first file.</param>
public sealed record DicomSeriesInfo(int Number, string SeriesInstanceUid, int? SeriesNumber, string? Modality,
    string? Description, int Images, int Files, int Rows, int Columns, string Folder)
{
    /// <summary>One line for listings: "2: 1.2.3… (CT #3 'ABDOMEN', 120 images of 512×512 in ./sub)".</summary>
    public override string ToString() =>
        $"{Number}: {SeriesInstanceUid} ({Modality ?? "?"}" + (SeriesNumber is { } n ? $" #{n}" : "") +
        (Description is { } d ? $" '{d}'" : "") + $", {Images} image(s) of {Columns}×{Rows} in {Folder})";
}
