namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// A DICOM transfer syntax: its UID and name, the dataset encoding and the pixel encoding. The reader supports
/// Implicit VR Little Endian, Explicit VR Little Endian, Deflated Explicit VR Little Endian, Explicit VR Big Endian,
/// RLE Lossless and JPEG Lossless process 14 (selection value 1, the common lossless CT archive format, and any other
/// selection value); every other one is refused by name.
/// </summary>
public sealed record DicomTransferSyntax(string Uid, string Name, bool ExplicitVr, bool BigEndian, bool Deflated,
    DicomPixelEncoding Encoding)
{
    public static readonly DicomTransferSyntax ImplicitVrLittleEndian =
        new("1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false, DicomPixelEncoding.Native);

    public static readonly DicomTransferSyntax ExplicitVrLittleEndian =
        new("1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false, DicomPixelEncoding.Native);

    public static readonly DicomTransferSyntax DeflatedExplicitVrLittleEndian =
        new("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true, false, true, DicomPixelEncoding.Native);

    public static readonly DicomTransferSyntax ExplicitVrBigEndian =
        new("1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true, false, DicomPixelEncoding.Native);

    public static readonly DicomTransferSyntax RleLossless =
        new("1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, DicomPixelEncoding.Rle);

    public static readonly DicomTransferSyntax JpegLosslessSv1 =
        new("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
            true, false, false, DicomPixelEncoding.JpegLossless);

    public static readonly DicomTransferSyntax JpegLossless =
        new("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false,
            DicomPixelEncoding.JpegLossless);

    /// <summary>The transfer syntaxes this reader decodes.</summary>
    public static IReadOnlyList<DicomTransferSyntax> Supported { get; } =
    [
        ImplicitVrLittleEndian, ExplicitVrLittleEndian, DeflatedExplicitVrLittleEndian, ExplicitVrBigEndian, RleLossless,
        JpegLosslessSv1, JpegLossless,
    ];

    // Names of the transfer syntaxes that are refused, so that the message says what the file is (PS3.6 Table A-1).
    private static readonly Dictionary<string, string> Refused = new()
    {
        ["1.2.840.10008.1.2.1.98"] = "Encapsulated Uncompressed Explicit VR Little Endian",
        ["1.2.840.10008.1.2.4.50"] = "JPEG Baseline (Process 1), lossy",
        ["1.2.840.10008.1.2.4.51"] = "JPEG Extended (Process 2 & 4), lossy",
        ["1.2.840.10008.1.2.4.53"] = "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8), lossy",
        ["1.2.840.10008.1.2.4.55"] = "JPEG Full Progression, Non-Hierarchical (Process 10 & 12), lossy",
        ["1.2.840.10008.1.2.4.80"] = "JPEG-LS Lossless",
        ["1.2.840.10008.1.2.4.81"] = "JPEG-LS Lossy (Near-Lossless)",
        ["1.2.840.10008.1.2.4.90"] = "JPEG 2000 Image Compression (Lossless Only)",
        ["1.2.840.10008.1.2.4.91"] = "JPEG 2000 Image Compression",
        ["1.2.840.10008.1.2.4.92"] = "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
        ["1.2.840.10008.1.2.4.93"] = "JPEG 2000 Part 2 Multi-component Image Compression",
        ["1.2.840.10008.1.2.4.94"] = "JPIP Referenced",
        ["1.2.840.10008.1.2.4.95"] = "JPIP Referenced Deflate",
        ["1.2.840.10008.1.2.4.100"] = "MPEG2 Main Profile / Main Level",
        ["1.2.840.10008.1.2.4.101"] = "MPEG2 Main Profile / High Level",
        ["1.2.840.10008.1.2.4.102"] = "MPEG-4 AVC/H.264 High Profile / Level 4.1",
        ["1.2.840.10008.1.2.4.103"] = "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
        ["1.2.840.10008.1.2.4.104"] = "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
        ["1.2.840.10008.1.2.4.105"] = "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
        ["1.2.840.10008.1.2.4.106"] = "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
        ["1.2.840.10008.1.2.4.107"] = "HEVC/H.265 Main Profile / Level 5.1",
        ["1.2.840.10008.1.2.4.108"] = "HEVC/H.265 Main 10 Profile / Level 5.1",
        ["1.2.840.10008.1.2.4.201"] = "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
        ["1.2.840.10008.1.2.4.202"] = "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
        ["1.2.840.10008.1.2.4.203"] = "High-Throughput JPEG 2000 Image Compression",
        ["1.2.840.10008.1.2.7.1"] = "SMPTE ST 2110-20 Uncompressed Progressive Active Video",
        ["1.2.840.10008.1.2.7.2"] = "SMPTE ST 2110-20 Uncompressed Interlaced Active Video",
        ["1.2.840.10008.1.2.7.3"] = "SMPTE ST 2110-30 PCM Digital Audio",
        ["1.2.840.10008.1.2.8.1"] = "Deflated Image Frame Compression",
    };

    /// <summary>The supported transfer syntaxes in a few words, for messages.</summary>
    public const string SupportedList = "Implicit and Explicit VR Little Endian, Deflated Explicit VR Little Endian, " +
        "Explicit VR Big Endian, RLE Lossless, JPEG Lossless process 14";

    /// <summary>The supported transfer syntax of <paramref name="uid"/>, or null.</summary>
    public static DicomTransferSyntax? Find(string uid) => Supported.FirstOrDefault(t => t.Uid == uid);

    /// <summary>"name (uid)" of any transfer syntax, or "an unknown transfer syntax (uid)".</summary>
    public static string Describe(string uid) =>
        Find(uid) is { } t ? $"{t.Name} ({uid})"
        : Refused.TryGetValue(uid, out string? name) ? $"{name} ({uid})"
        : $"an unknown transfer syntax ({DicomDataset.Shorten(uid)})";
}
