namespace Med2E3.Native.Formats.Volumes;

/// <summary>The container a <see cref="Volume"/> was read from.</summary>
public enum VolumeFileFormat
{
    /// <summary>NumPy .npy (the M3D format): values already min–max normalised to [0,1], no orientation metadata.</summary>
    Npy,

    /// <summary>NIfTI-1 single file (magic "n+1"), optionally gzip-compressed.</summary>
    Nifti1,

    /// <summary>NIfTI-2 single file (magic "n+2"), optionally gzip-compressed.</summary>
    Nifti2,

    /// <summary>A DICOM series (a folder of single-frame files, or one multi-frame file), see <see cref="Dicom.DicomSeriesReader"/>.</summary>
    Dicom,

    /// <summary>Made in memory (for example by <c>Phantom</c> in Med2E3.Native.Models).</summary>
    InMemory,
}
