namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// One image plane of a DICOM file (the only one of a single-frame file, or one frame of a multi-frame file) with the
/// geometry and intensity scaling that apply to it: top-level attributes, or for enhanced multi-frame images the
/// shared and per-frame functional groups (per-frame values win).
/// </summary>
/// <param name="File">The file holding the frame.</param>
/// <param name="Index">The frame's index in the file (0 for a single-frame file).</param>
/// <param name="Position">ImagePositionPatient (LPS, mm) of the first pixel, or null when the file has none.</param>
/// <param name="Orientation">ImageOrientationPatient: row direction then column direction (LPS unit vectors), or null.</param>
/// <param name="PixelSpacing">PixelSpacing: (between rows, between columns) in mm, or null.</param>
/// <param name="SliceThickness">SliceThickness in mm, or null.</param>
/// <param name="Slope">RescaleSlope (1 when absent).</param>
/// <param name="Intercept">RescaleIntercept (0 when absent).</param>
/// <param name="InstanceNumber">InstanceNumber of the file, or null.</param>
public sealed record DicomFrame(DicomFile File, int Index, double[]? Position, double[]? Orientation,
    double[]? PixelSpacing, double? SliceThickness, double Slope, double Intercept, int? InstanceNumber);
