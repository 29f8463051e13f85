namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>How the pixel data of a transfer syntax is stored.</summary>
public enum DicomPixelEncoding
{
    /// <summary>Native (uncompressed) pixel data.</summary>
    Native,

    /// <summary>Encapsulated RLE Lossless (PS3.5 Annex G).</summary>
    Rle,

    /// <summary>Encapsulated JPEG Lossless, process 14 (ISO 10918-1 Annex H), any selection value.</summary>
    JpegLossless,
}
