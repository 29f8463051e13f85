using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// A DICOM Part 10 image file: its header (File Meta Information and dataset up to the pixel data), the Image Pixel
/// attributes checked against what the reader supports, its frames with their geometry, and the decoding of the pixel
/// data into modality values (stored values masked to BitsStored at HighBit, sign-extended when PixelRepresentation is
/// 1, then value · RescaleSlope + RescaleIntercept in float64, rounded once to float32: Hounsfield units for CT).
/// </summary>
/// <remarks>
/// The pixel data is not kept: <see cref="ReadFrames"/> reopens the file and decodes one frame at a time, so a large
/// multi-frame file needs one frame of memory beyond the volume it fills.
/// </remarks>
public sealed class DicomFile
{
    private readonly long _datasetStart;
    private readonly DicomParser.PixelDataLocation? _pixelData;
    private readonly long _fileLength;

    internal DicomFile(string path, DicomTransferSyntax syntax, DicomDataset meta, DicomDataset dataset, long datasetStart,
        DicomParser.PixelDataLocation? pixelData, long fileLength)
    {
        _fileLength = fileLength;
        FilePath = path;
        TransferSyntax = syntax;
        Meta = meta;
        Dataset = dataset;
        _datasetStart = datasetStart;
        _pixelData = pixelData;
    }

    /// <summary>Reads the header of <paramref name="path"/>.</summary>
    /// <exception cref="VolumeFormatException">not a readable DICOM Part 10 file.</exception>
    public static DicomFile Open(string path) => DicomParser.ReadHeader(path);

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>The transfer syntax of the dataset and pixel data.</summary>
    public DicomTransferSyntax TransferSyntax { get; }

    /// <summary>The File Meta Information (group 0002).</summary>
    public DicomDataset Meta { get; }

    /// <summary>The dataset, up to the pixel data.</summary>
    public DicomDataset Dataset { get; }

    /// <summary>True when the file has a Pixel Data element (an image; not e.g. a structured report or a DICOMDIR).</summary>
    public bool HasPixelData => _pixelData is not null;

    /// <summary>Rows of each frame.</summary>
    public int Rows => Dataset.GetInt(DicomTags.Rows) ?? 0;

    /// <summary>Columns of each frame.</summary>
    public int Columns => Dataset.GetInt(DicomTags.Columns) ?? 0;

    /// <summary>NumberOfFrames (1 when absent).</summary>
    public int FrameCount => Math.Max(1, Dataset.GetInt(DicomTags.NumberOfFrames) ?? 1);

    /// <summary>PhotometricInterpretation (MONOCHROME1 or MONOCHROME2 once <see cref="CheckImage"/> passed).</summary>
    public string Photometric => Dataset.GetString(DicomTags.PhotometricInterpretation) ?? "";

    /// <summary>
    /// Checks that the file is an image this reader can decode: one sample per pixel, MONOCHROME1/2, 8, 16 or 32 bits
    /// allocated, a consistent BitsStored/HighBit, and pixel data in the encoding of the transfer syntax.
    /// </summary>
    /// <exception cref="VolumeFormatException">the first thing that is not supported, named.</exception>
    public void CheckImage()
    {
        string sop = Dataset.GetString(DicomTags.SopClassUid) ?? Meta.GetString(DicomTags.MediaStorageSopClassUid) ?? "?";
        if (_pixelData is null)
        {
            throw Problem($"holds no image: no PixelData (7FE0,0010) (SOP class {sop})");
        }

        int samples = Dataset.GetInt(DicomTags.SamplesPerPixel) ?? 1;
        string photometric = Photometric;
        if (photometric.Length == 0)
        {
            throw Problem("has no PhotometricInterpretation (0028,0004)");
        }

        if (samples != 1 || photometric is not ("MONOCHROME1" or "MONOCHROME2"))
        {
            throw Unsupported($"is a colour or palette image (SamplesPerPixel {samples}, PhotometricInterpretation " +
                $"'{DicomDataset.Shorten(photometric)}'); only grayscale MONOCHROME1 and MONOCHROME2 images are supported");
        }

        if (Rows is < 1 or > 65535 || Columns is < 1 or > 65535)
        {
            throw Problem($"Rows {Rows} × Columns {Columns} is not an image size");
        }

        int allocated = Dataset.GetInt(DicomTags.BitsAllocated) ?? 0;
        int stored = Dataset.GetInt(DicomTags.BitsStored) ?? allocated;
        int high = Dataset.GetInt(DicomTags.HighBit) ?? stored - 1;
        int representation = Dataset.GetInt(DicomTags.PixelRepresentation) ?? 0;
        if (allocated is not (8 or 16 or 32))
        {
            throw Unsupported($"BitsAllocated {allocated} is not supported (8, 16 or 32; 1-bit images are segmentations or overlays)");
        }

        if (stored < 1 || stored > allocated || high < stored - 1 || high >= allocated)
        {
            throw Problem($"BitsStored {stored} with HighBit {high} does not fit BitsAllocated {allocated}");
        }

        if (representation is not (0 or 1))
        {
            throw Problem($"PixelRepresentation {representation} (expected 0, unsigned, or 1, two's complement)");
        }

        if (Dataset.GetInt(DicomTags.NumberOfFrames) is < 1)
        {
            throw Problem($"NumberOfFrames {Dataset.GetInt(DicomTags.NumberOfFrames)} (expected at least 1)");
        }

        bool encapsulated = TransferSyntax.Encoding != DicomPixelEncoding.Native;
        if (_pixelData.Encapsulated != encapsulated)
        {
            throw Problem(encapsulated
                ? $"the pixel data of this {TransferSyntax.Name} file is not encapsulated (it has a defined length)"
                : $"the pixel data has an undefined length (encapsulated), which {TransferSyntax.Name} does not allow");
        }

        long needed = (long)Rows * Columns * (allocated / 8) * FrameCount;
        if (encapsulated)
        {
            // Before anything is allocated: compressed data can hold at most 64 times its size with RLE (a 128-byte run
            // in 2 bytes) and 8 pixels per byte with JPEG Lossless (at least one bit per sample).
            long available = _fileLength - _datasetStart - _pixelData.Offset;
            long most = TransferSyntax.Encoding == DicomPixelEncoding.Rle ? 64 * available : 8 * available * (allocated / 8);
            if (needed > most)
            {
                throw Problem($"truncated pixel data: {available} bytes of {TransferSyntax.Name} data cannot hold " +
                    $"{FrameCount} frame(s) of {Columns}×{Rows} at {allocated} bits");
            }
        }
        else if (_pixelData.Length < needed)
        {
            throw Problem($"truncated pixel data: {_pixelData.Length} bytes for {FrameCount} frame(s) of {Columns}×{Rows} " +
                $"at {allocated} bits, which need {needed}");
        }

        if (Dataset.Contains(DicomTags.ModalityLutSequence))
        {
            throw Unsupported("uses a Modality LUT Sequence (0028,3000) instead of RescaleSlope/RescaleIntercept, which is not supported");
        }
    }

    /// <summary>
    /// The frames with their geometry and scaling: for an enhanced multi-frame image from the shared and per-frame
    /// functional groups; for a legacy multi-frame image with a GridFrameOffsetVector, positions along the normal;
    /// otherwise the top-level attributes for every frame (positions then unknown beyond the first).
    /// </summary>
    public IReadOnlyList<DicomFrame> Frames()
    {
        var ds = Dataset;
        int n = FrameCount;
        var shared = ds.GetItem(DicomTags.SharedFunctionalGroupsSequence);
        var perFrame = ds.GetItems(DicomTags.PerFrameFunctionalGroupsSequence);
        if (perFrame is not null && perFrame.Count != n)
        {
            throw Problem($"PerFrameFunctionalGroupsSequence has {perFrame.Count} items for {n} frames");
        }

        int? instance = ds.GetInt(DicomTags.InstanceNumber);
        double[]? orientation = ds.GetNumbers(DicomTags.ImageOrientationPatient, 6);
        double[]? position = ds.GetNumbers(DicomTags.ImagePositionPatient, 3);
        double[]? spacing = ds.GetNumbers(DicomTags.PixelSpacing, 2);
        double? thickness = ds.GetNumbers(DicomTags.SliceThickness)?[0];
        double slope = ds.GetNumbers(DicomTags.RescaleSlope)?[0] ?? 1;
        double intercept = ds.GetNumbers(DicomTags.RescaleIntercept)?[0] ?? 0;
        double[]? offsets = n > 1 && perFrame is null ? ds.GetNumbers(DicomTags.GridFrameOffsetVector) : null;
        if (offsets is not null && offsets.Length != n)
        {
            throw Problem($"GridFrameOffsetVector (3004,000C) has {offsets.Length} values for {n} frames");
        }

        var frames = new DicomFrame[n];
        for (int f = 0; f < n; f++)
        {
            var item = perFrame?[f];
            T? Group<T>(DicomTag sequence, Func<DicomDataset, T?> get) where T : class =>
                (item?.GetItem(sequence) is { } a ? get(a) : null) ?? (shared?.GetItem(sequence) is { } b ? get(b) : null);
            double? GroupNumber(DicomTag sequence, DicomTag tag) =>
                Group(sequence, d => d.GetNumbers(tag))?[0];

            var p = Group(DicomTags.PlanePositionSequence, d => d.GetNumbers(DicomTags.ImagePositionPatient, 3)) ?? position;
            var o = Group(DicomTags.PlaneOrientationSequence, d => d.GetNumbers(DicomTags.ImageOrientationPatient, 6)) ?? orientation;
            if (offsets is not null && p is not null && o is not null)
            {
                var normal = Cross(o);
                p = [p[0] + offsets[f] * normal[0], p[1] + offsets[f] * normal[1], p[2] + offsets[f] * normal[2]];
            }
            else if (n > 1 && perFrame is null)
            {
                p = f == 0 ? p : null; // a legacy multi-frame image without per-frame positions
            }

            frames[f] = new DicomFrame(this, f, p, o,
                Group(DicomTags.PixelMeasuresSequence, d => d.GetNumbers(DicomTags.PixelSpacing, 2)) ?? spacing,
                GroupNumber(DicomTags.PixelMeasuresSequence, DicomTags.SliceThickness) ?? thickness,
                GroupNumber(DicomTags.PixelValueTransformationSequence, DicomTags.RescaleSlope) ?? slope,
                GroupNumber(DicomTags.PixelValueTransformationSequence, DicomTags.RescaleIntercept) ?? intercept,
                instance);
        }

        return frames;
    }

    /// <summary>The frame's modality values (Rows × Columns, row-major); reads and decodes the whole file.</summary>
    public float[] ReadFrame(int index)
    {
        var frames = Frames();
        if (index < 0 || index >= frames.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"frame {index} of {frames.Count}");
        }

        var result = new float[Rows * Columns];
        ReadFrames(frames, (f, values) =>
        {
            if (f == index)
            {
                values.CopyTo(result);
            }
        });
        return result;
    }

    /// <summary>
    /// Decodes every frame in file order and passes its modality values (Rows × Columns, row-major) to
    /// <paramref name="onFrame"/> with the frame's index; the buffer is reused for the next frame.
    /// </summary>
    public void ReadFrames(IReadOnlyList<DicomFrame> frames, FrameHandler onFrame)
    {
        CheckImage();
        int pixels = Rows * Columns;

        // Frame buffers come from the shared pool: a series of a few hundred files then reuses the same few arrays
        // instead of leaving megabytes of garbage per slice.
        var raw = ArrayPool<double>.Shared.Rent(pixels);
        var values = ArrayPool<float>.Shared.Rent(pixels);
        int allocated = Dataset.GetInt(DicomTags.BitsAllocated)!.Value;
        int stored = Dataset.GetInt(DicomTags.BitsStored) ?? allocated;
        int high = Dataset.GetInt(DicomTags.HighBit) ?? stored - 1;
        bool signed = Dataset.GetInt(DicomTags.PixelRepresentation) == 1;
        using var file = VolumeReader.OpenFile(FilePath);
        Stream stream = file;
        DeflateStream? inflate = null;
        try
        {
            if (TransferSyntax.Deflated)
            {
                file.Position = _datasetStart;
                inflate = new DeflateStream(file, CompressionMode.Decompress, leaveOpen: true);
                if (StreamUtil.Skip(inflate, _pixelData!.Offset, FilePath) < _pixelData.Offset)
                {
                    throw Problem("truncated file: the deflated dataset ends before its pixel data");
                }

                stream = inflate;
            }
            else
            {
                file.Position = _datasetStart + _pixelData!.Offset;
            }

            foreach (int f in Encoded(stream, allocated / 8, raw, pixels))
            {
                ToModality(raw.AsSpan(0, pixels), stored, high, signed, frames[f].Slope, frames[f].Intercept, values);
                onFrame(f, values.AsSpan(0, pixels));
            }
        }
        finally
        {
            inflate?.Dispose();
            ArrayPool<double>.Shared.Return(raw);
            ArrayPool<float>.Shared.Return(values);
        }
    }

    /// <summary>Receives one decoded frame.</summary>
    public delegate void FrameHandler(int frame, ReadOnlySpan<float> modalityValues);

    // Fills raw[..pixels] with each frame's unsigned container values in turn (yielding the frame index).
    private IEnumerable<int> Encoded(Stream stream, int bytes, double[] raw, int pixels) =>
        TransferSyntax.Encoding == DicomPixelEncoding.Native
            ? NativeFrames(stream, bytes, raw, pixels)
            : EncapsulatedFrames(stream, bytes, raw, pixels);

    private IEnumerable<int> NativeFrames(Stream stream, int bytes, double[] raw, int pixels)
    {
        int length = pixels * bytes;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        bool big = TransferSyntax.BigEndian && _pixelData!.Vr != "OB";
        try
        {
            for (int f = 0; f < FrameCount; f++)
            {
                if (StreamUtil.ReadAtMost(stream, buffer.AsSpan(0, length), FilePath) < length)
                {
                    throw Problem($"truncated pixel data: the file ends inside frame {f}");
                }

                for (int i = 0; i < pixels; i++)
                {
                    var s = buffer.AsSpan(i * bytes, bytes);
                    raw[i] = bytes switch
                    {
                        1 => s[0],
                        2 => big ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s),
                        _ => big ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s),
                    };
                }

                yield return f;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private IEnumerable<int> EncapsulatedFrames(Stream stream, int bytes, double[] raw, int pixels)
    {
        var fragments = Fragments(stream, out uint[] offsets);
        var groups = FrameFragments(fragments, offsets, FrameCount);
        for (int f = 0; f < FrameCount; f++)
        {
            var (first, count) = groups[f];
            long size = 0;
            for (int k = first; k < first + count; k++)
            {
                size += fragments[k].Length;
            }

            if (size > int.MaxValue)
            {
                throw Problem($"frame {f} has {size} bytes of compressed data");
            }

            var data = ArrayPool<byte>.Shared.Rent((int)size);
            try
            {
                int at = 0;
                for (int k = first; k < first + count; k++)
                {
                    stream.Position = fragments[k].Offset;
                    if (StreamUtil.ReadAtMost(stream, data.AsSpan(at, (int)fragments[k].Length), FilePath) < fragments[k].Length)
                    {
                        throw Problem($"truncated pixel data: the file ends inside a fragment of frame {f}");
                    }

                    at += (int)fragments[k].Length;
                }

                if (TransferSyntax.Encoding == DicomPixelEncoding.Rle)
                {
                    RleDecoder.Decode(data.AsSpan(0, (int)size), bytes, raw.AsSpan(0, pixels), FilePath);
                }
                else
                {
                    JpegLosslessDecoder.Decode(data.AsSpan(0, (int)size), Rows, Columns, raw.AsSpan(0, pixels), FilePath);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }

            yield return f;
        }
    }

    // The encapsulated items after the pixel data tag: the Basic Offset Table, then fragments until the delimiter.
    private List<(long Offset, long Length)> Fragments(Stream stream, out uint[] offsets)
    {
        var r = new DicomStreamReader(stream, FilePath, stream.Length - stream.Position);
        long origin = stream.Position;
        if (!r.TryReadTag(out var tag) || tag != DicomTags.Item)
        {
            throw Problem("encapsulated pixel data does not start with an item (the Basic Offset Table)");
        }

        uint tableLength = r.ReadUInt32("the Basic Offset Table length");
        if (tableLength % 4 != 0)
        {
            throw Problem($"Basic Offset Table of {tableLength} bytes is not a list of 32-bit offsets");
        }

        var table = r.ReadBytes(tableLength, "the Basic Offset Table");
        offsets = new uint[tableLength / 4];
        for (int i = 0; i < offsets.Length; i++)
        {
            offsets[i] = BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(4 * i));
        }

        var fragments = new List<(long Offset, long Length)>();
        while (true)
        {
            if (!r.TryReadTag(out tag))
            {
                throw Problem("truncated pixel data: no sequence delimiter after the fragments");
            }

            uint length = r.ReadUInt32("a fragment length");
            if (tag == DicomTags.SequenceDelimitation)
            {
                break;
            }

            if (tag != DicomTags.Item)
            {
                throw Problem($"encapsulated pixel data holds {tag} where a fragment item belongs");
            }

            if (fragments.Count >= DicomLimits.MaxFragments)
            {
                throw Problem($"more than {DicomLimits.MaxFragments} pixel data fragments");
            }

            fragments.Add((origin + r.Position, length));
            r.Skip(length, "a pixel data fragment");
        }

        return fragments;
    }

    // Which fragments make each frame: by the Basic Offset Table when it has one entry per frame, else one fragment per
    // frame, else (a single frame) all of them.
    private (int First, int Count)[] FrameFragments(List<(long Offset, long Length)> fragments, uint[] offsets, int frames)
    {
        var groups = new (int First, int Count)[frames];
        if (fragments.Count == 0)
        {
            throw Problem("encapsulated pixel data holds no fragment");
        }

        if (offsets.Length == frames && frames > 1)
        {
            // Item starts relative to the first fragment's item tag.
            long origin = fragments[0].Offset - 8;
            var starts = fragments.Select(f => f.Offset - 8 - origin).ToList();
            for (int f = 0; f < frames; f++)
            {
                int first = starts.IndexOf(offsets[f]);
                long end = f + 1 < frames ? offsets[f + 1] : long.MaxValue;
                if (first < 0 || end <= offsets[f])
                {
                    throw Problem($"Basic Offset Table entry {f} ({offsets[f]}) does not point at a fragment");
                }

                int count = 0;
                while (first + count < fragments.Count && starts[first + count] < end)
                {
                    count++;
                }

                groups[f] = (first, count);
            }

            return groups;
        }

        if (fragments.Count == frames)
        {
            for (int f = 0; f < frames; f++)
            {
                groups[f] = (f, 1);
            }

            return groups;
        }

        if (frames == 1)
        {
            groups[0] = (0, fragments.Count);
            return groups;
        }

        throw Problem($"{fragments.Count} pixel data fragments for {frames} frames and no Basic Offset Table to tell them apart");
    }

    // Stored value = the BitsStored bits ending at HighBit, sign-extended for PixelRepresentation 1; then the rescale.
    private static void ToModality(ReadOnlySpan<double> raw, int stored, int high, bool signed, double slope, double intercept,
        Span<float> dst)
    {
        int shift = high + 1 - stored;
        ulong mask = stored == 64 ? ulong.MaxValue : (1UL << stored) - 1;
        double wrap = Math.Pow(2, stored);
        ulong signBit = 1UL << (stored - 1);
        bool identity = slope == 1 && intercept == 0;
        for (int i = 0; i < raw.Length; i++)
        {
            ulong bits = ((ulong)raw[i] >> shift) & mask;
            double v = signed && (bits & signBit) != 0 ? bits - wrap : bits;
            dst[i] = identity ? (float)v : (float)(v * slope + intercept);
        }
    }

    private static double[] Cross(double[] o) =>
    [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ];

    private VolumeFormatException Problem(string problem) => new(FilePath, problem);

    private DicomUnsupportedException Unsupported(string problem) => new(FilePath, problem);
}
