namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// The attributes the volume reader uses, with the value representation (VR) that Implicit VR files leave out
/// (PS3.6). Any other attribute is read as its bytes (or, with an undefined length, as a sequence) and skipped.
/// </summary>
public static class DicomTags
{
    public static readonly DicomTag TransferSyntaxUid = new(0x0002, 0x0010);
    public static readonly DicomTag MediaStorageSopClassUid = new(0x0002, 0x0002);
    public static readonly DicomTag SpecificCharacterSet = new(0x0008, 0x0005);
    public static readonly DicomTag SopClassUid = new(0x0008, 0x0016);
    public static readonly DicomTag SopInstanceUid = new(0x0008, 0x0018);
    public static readonly DicomTag Modality = new(0x0008, 0x0060);
    public static readonly DicomTag SeriesDescription = new(0x0008, 0x103E);
    public static readonly DicomTag SliceThickness = new(0x0018, 0x0050);
    public static readonly DicomTag SpacingBetweenSlices = new(0x0018, 0x0088);
    public static readonly DicomTag GantryDetectorTilt = new(0x0018, 0x1120);
    public static readonly DicomTag SeriesInstanceUid = new(0x0020, 0x000E);
    public static readonly DicomTag SeriesNumber = new(0x0020, 0x0011);
    public static readonly DicomTag InstanceNumber = new(0x0020, 0x0013);
    public static readonly DicomTag ImagePositionPatient = new(0x0020, 0x0032);
    public static readonly DicomTag ImageOrientationPatient = new(0x0020, 0x0037);
    public static readonly DicomTag FrameContentSequence = new(0x0020, 0x9111);
    public static readonly DicomTag PlanePositionSequence = new(0x0020, 0x9113);
    public static readonly DicomTag PlaneOrientationSequence = new(0x0020, 0x9116);
    public static readonly DicomTag SamplesPerPixel = new(0x0028, 0x0002);
    public static readonly DicomTag PhotometricInterpretation = new(0x0028, 0x0004);
    public static readonly DicomTag NumberOfFrames = new(0x0028, 0x0008);
    public static readonly DicomTag Rows = new(0x0028, 0x0010);
    public static readonly DicomTag Columns = new(0x0028, 0x0011);
    public static readonly DicomTag PixelSpacing = new(0x0028, 0x0030);
    public static readonly DicomTag BitsAllocated = new(0x0028, 0x0100);
    public static readonly DicomTag BitsStored = new(0x0028, 0x0101);
    public static readonly DicomTag HighBit = new(0x0028, 0x0102);
    public static readonly DicomTag PixelRepresentation = new(0x0028, 0x0103);
    public static readonly DicomTag RescaleIntercept = new(0x0028, 0x1052);
    public static readonly DicomTag RescaleSlope = new(0x0028, 0x1053);
    public static readonly DicomTag ModalityLutSequence = new(0x0028, 0x3000);
    public static readonly DicomTag PixelMeasuresSequence = new(0x0028, 0x9110);
    public static readonly DicomTag PixelValueTransformationSequence = new(0x0028, 0x9145);
    public static readonly DicomTag GridFrameOffsetVector = new(0x3004, 0x000C);
    public static readonly DicomTag SharedFunctionalGroupsSequence = new(0x5200, 0x9229);
    public static readonly DicomTag PerFrameFunctionalGroupsSequence = new(0x5200, 0x9230);
    public static readonly DicomTag PixelData = new(0x7FE0, 0x0010);
    public static readonly DicomTag Item = new(0xFFFE, 0xE000);
    public static readonly DicomTag ItemDelimitation = new(0xFFFE, 0xE00D);
    public static readonly DicomTag SequenceDelimitation = new(0xFFFE, 0xE0DD);

    /// <summary>The VR of <paramref name="tag"/> for Implicit VR data: known for the attributes above, else UN.</summary>
    public static string ImplicitVr(DicomTag tag)
    {
        if (tag.Element == 0x0000)
        {
            return "UL"; // group length
        }

        return tag.Value switch
        {
            0x00020002 or 0x00020010 or 0x00080016 or 0x00080018 or 0x0020000E => "UI",
            0x00080005 or 0x00080060 or 0x00280004 => "CS",
            0x0008103E => "LO",
            0x00180050 or 0x00180088 or 0x00181120 or 0x00200032 or 0x00200037 or 0x00280030 or 0x00281052
                or 0x00281053 or 0x3004000C => "DS",
            0x00200011 or 0x00200013 or 0x00280008 => "IS",
            0x00280002 or 0x00280010 or 0x00280011 or 0x00280100 or 0x00280101 or 0x00280102 or 0x00280103 => "US",
            0x00209111 or 0x00209113 or 0x00209116 or 0x00283000 or 0x00289110 or 0x00289145 or 0x52009229
                or 0x52009230 => "SQ",
            0x7FE00010 => "OW",
            _ => "UN",
        };
    }

    private static readonly Dictionary<uint, string> Keywords = new()
    {
        [0x00020010] = "TransferSyntaxUID",
        [0x00180050] = "SliceThickness",
        [0x00180088] = "SpacingBetweenSlices",
        [0x00181120] = "GantryDetectorTilt",
        [0x0020000E] = "SeriesInstanceUID",
        [0x00200032] = "ImagePositionPatient",
        [0x00200037] = "ImageOrientationPatient",
        [0x00280002] = "SamplesPerPixel",
        [0x00280004] = "PhotometricInterpretation",
        [0x00280008] = "NumberOfFrames",
        [0x00280010] = "Rows",
        [0x00280011] = "Columns",
        [0x00280030] = "PixelSpacing",
        [0x00280100] = "BitsAllocated",
        [0x00280101] = "BitsStored",
        [0x00280102] = "HighBit",
        [0x00280103] = "PixelRepresentation",
        [0x00281052] = "RescaleIntercept",
        [0x00281053] = "RescaleSlope",
        [0x3004000C] = "GridFrameOffsetVector",
        [0x52009229] = "SharedFunctionalGroupsSequence",
        [0x52009230] = "PerFrameFunctionalGroupsSequence",
        [0x7FE00010] = "PixelData",
    };

    /// <summary>The attribute's keyword and tag for messages, e.g. "ImagePositionPatient (0020,0032)", or its tag.</summary>
    public static string Name(DicomTag tag) =>
        Keywords.TryGetValue(tag.Value, out string? keyword) ? $"{keyword} {tag}" : tag.ToString();
}
