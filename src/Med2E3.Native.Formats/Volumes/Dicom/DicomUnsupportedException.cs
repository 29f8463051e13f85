namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// A valid DICOM file of a kind this reader does not decode: a transfer syntax outside the supported list, a colour
/// or palette image, 1-bit data, a Modality LUT. In a folder such files are skipped (and counted in the message if no
/// image is left); named directly, they are refused with this exception.
/// </summary>
public sealed class DicomUnsupportedException(string filePath, string problem) : VolumeFormatException(filePath, problem);
