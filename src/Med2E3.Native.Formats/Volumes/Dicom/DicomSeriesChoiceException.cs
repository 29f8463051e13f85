namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// A DICOM folder holds several series and none was chosen (or the choice matches none): the message lists them,
/// numbered, with their SeriesInstanceUID, modality, description and slice count.
/// </summary>
public sealed class DicomSeriesChoiceException : VolumeFormatException
{
    /// <summary>The words in <see cref="Exception.Message"/> that name the library option; a command line replaces them.</summary>
    public const string LibraryHint = "choose one with VolumeReadOptions.Series (its SeriesInstanceUID or number)";

    /// <summary>Creates the exception for the folder <paramref name="path"/>.</summary>
    public DicomSeriesChoiceException(string path, string problem, IReadOnlyList<DicomSeriesInfo> series)
        : base(path, problem)
    {
        Series = series;
    }

    /// <summary>The series found, in the listed order (number n is <c>Series[n - 1]</c>).</summary>
    public IReadOnlyList<DicomSeriesInfo> Series { get; }
}
