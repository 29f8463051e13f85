using System.IO.Compression;
using System.Text;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Parses a DICOM Part 10 file (PS3.10): the 128-byte preamble and "DICM", the File Meta Information (always
/// Explicit VR Little Endian), then the dataset in the transfer syntax the meta names, up to the Pixel Data element,
/// whose position is recorded so that the voxels can be read later without keeping the file in memory.
/// </summary>
/// <remarks>
/// Every length is checked before it is used: against the bytes left in the file, against
/// <see cref="DicomLimits"/> (nesting depth, element count, bytes kept), and values larger than
/// <see cref="DicomLimits.MaxKeptValue"/> are skipped rather than read. Sequences of defined and undefined length are
/// both parsed, and so is a sequence hidden in a UN element of undefined length (PS3.5 §6.2.2: Implicit VR Little
/// Endian inside).
/// </remarks>
internal static class DicomParser
{
    private static readonly HashSet<string> LongVrs = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"];

    private const uint Undefined = 0xFFFFFFFF;

    /// <summary>True when <paramref name="head"/> (at least 132 bytes of a file) carries the Part 10 "DICM" marker.</summary>
    public static bool HasPart10Marker(ReadOnlySpan<byte> head) =>
        head.Length >= 132 && head.Slice(128, 4).SequenceEqual("DICM"u8);

    /// <summary>
    /// True when <paramref name="head"/> looks like a DICOM dataset without the Part 10 header (a group 0002, 0008
    /// or 0010 tag followed by a plausible VR or length), so that the refusal can say what the file is.
    /// </summary>
    public static bool LooksLikeRawDicom(ReadOnlySpan<byte> head) =>
        head.Length >= 8 && head[1] == 0 && head[0] is 0x02 or 0x08 or 0x10 && head[3] == 0x00
        && (char.IsAsciiLetterUpper((char)head[4]) && char.IsAsciiLetterUpper((char)head[5]) || head[7] == 0);

    /// <summary>Parses the file's header (everything before the pixel data).</summary>
    public static DicomFile ReadHeader(string path)
    {
        using var file = VolumeReader.OpenFile(path);
        return ReadHeader(file, path);
    }

    public static DicomFile ReadHeader(Stream file, string path)
    {
        var head = new byte[132];
        int got = StreamUtil.ReadAtMost(file, head, path);
        if (got < 132 || !HasPart10Marker(head))
        {
            throw new VolumeFormatException(path, LooksLikeRawDicom(head.AsSpan(0, got))
                ? "DICOM without the Part 10 header (no 128-byte preamble and 'DICM' marker) is not supported"
                : "not a DICOM Part 10 file: no 'DICM' marker at byte 128");
        }

        // File Meta Information: Explicit VR Little Endian, group 0002, before the dataset.
        var meta = new DicomDataset(path, bigEndian: false);
        var reader = new DicomStreamReader(file, path, file.Length - 132) { ExplicitVr = true };
        var state = new State(path);
        while (true)
        {
            if (!reader.TryReadTag(out var tag))
            {
                throw new VolumeFormatException(path, "the file ends after its File Meta Information: there is no dataset");
            }

            if (tag.Group != 0x0002)
            {
                break;
            }

            ReadElement(reader, meta, tag, state, depth: 0, topLevel: false);
        }

        string? uid = meta.GetString(DicomTags.TransferSyntaxUid)?.TrimEnd('\0', ' ');
        if (uid is null)
        {
            throw new VolumeFormatException(path, "the File Meta Information has no TransferSyntaxUID (0002,0010)");
        }

        var syntax = DicomTransferSyntax.Find(uid) ?? throw new DicomUnsupportedException(path,
            $"transfer syntax {DicomTransferSyntax.Describe(uid)} is not supported; supported: {DicomTransferSyntax.SupportedList}");

        // The dataset starts at the tag just read; Deflated data is a raw deflate stream from there on.
        long datasetStart = 132 + reader.Position - 4;
        Stream source = file;
        DicomStreamReader data;
        if (syntax.Deflated)
        {
            file.Position = datasetStart;
            source = new DeflateStream(file, CompressionMode.Decompress, leaveOpen: true);
            data = new DicomStreamReader(source, path, null);
        }
        else
        {
            data = new DicomStreamReader(file, path, file.Length - datasetStart);
            file.Position = datasetStart;
        }

        data.ExplicitVr = syntax.ExplicitVr;
        data.BigEndian = syntax.BigEndian;
        var dataset = new DicomDataset(path, syntax.BigEndian);
        try
        {
            ReadDataset(data, dataset, end: null, state, depth: 0, topLevel: true);
        }
        finally
        {
            if (!ReferenceEquals(source, file))
            {
                source.Dispose();
            }
        }

        return new DicomFile(path, syntax, meta, dataset, datasetStart, state.PixelData, file.Length);
    }

    /// <summary>Where the pixel data element's value starts (in the dataset stream) and how long it is.</summary>
    internal sealed record PixelDataLocation(long Offset, long Length, bool Encapsulated, string Vr);

    private sealed class State(string path)
    {
        public string Path { get; } = path;

        public int Elements;

        public long KeptBytes;

        public PixelDataLocation? PixelData;

        public bool Stop => PixelData is not null;

        public void Count()
        {
            if (++Elements > DicomLimits.MaxElements)
            {
                throw new VolumeFormatException(Path, $"more than {DicomLimits.MaxElements} data elements");
            }
        }
    }

    // Elements until `end` (a defined length) or, with no end, until an Item Delimitation (inside an item) or the end
    // of the stream (top level). Returns when the top level reaches the pixel data.
    private static void ReadDataset(DicomStreamReader r, DicomDataset ds, long? end, State state, int depth, bool topLevel)
    {
        while (end is null || r.Position < end)
        {
            if (!r.TryReadTag(out var tag))
            {
                if (topLevel)
                {
                    return;
                }

                throw new VolumeFormatException(r.FilePath, "truncated file: it ends inside a sequence item");
            }

            if (tag == DicomTags.ItemDelimitation && !topLevel)
            {
                r.ReadUInt32("an item delimiter");
                return;
            }

            ReadElement(r, ds, tag, state, depth, topLevel);
            if (state.Stop)
            {
                return;
            }
        }

        if (end is { } e && r.Position != e)
        {
            throw new VolumeFormatException(r.FilePath, $"an element overruns its item by {r.Position - e} bytes");
        }
    }

    private static void ReadElement(DicomStreamReader r, DicomDataset ds, DicomTag tag, State state, int depth, bool topLevel)
    {
        state.Count();
        if (tag.Group == 0xFFFE)
        {
            throw new VolumeFormatException(r.FilePath, $"unexpected item tag {tag} outside a sequence");
        }

        string vr;
        uint length;
        if (r.ExplicitVr)
        {
            Span<byte> v = stackalloc byte[2];
            r.ReadExactly(v, $"the VR of {tag}");
            vr = Encoding.ASCII.GetString(v);
            if (!char.IsAsciiLetterUpper(vr[0]) || !char.IsAsciiLetterUpper(vr[1]))
            {
                throw new VolumeFormatException(r.FilePath,
                    $"element {tag} has an invalid VR {StreamUtil.Hex(v)} (expected two capital letters)");
            }

            if (LongVrs.Contains(vr))
            {
                r.ReadUInt16($"the reserved bytes of {tag}");
                length = r.ReadUInt32($"the length of {tag}");
            }
            else
            {
                length = r.ReadUInt16($"the length of {tag}");
            }
        }
        else
        {
            vr = DicomTags.ImplicitVr(tag);
            length = r.ReadUInt32($"the length of {tag}");
        }

        string what = $"element {DicomTags.Name(tag)}";
        if (tag == DicomTags.PixelData && topLevel)
        {
            if (length != Undefined && r.Remaining is { } left && length > left)
            {
                throw new VolumeFormatException(r.FilePath,
                    $"truncated pixel data: {what} claims {length} bytes but only {left} are left in the file");
            }

            state.PixelData = new PixelDataLocation(r.Position, length == Undefined ? -1 : length, length == Undefined, vr);
            return;
        }

        bool sequence = vr == "SQ" || (length == Undefined && vr == "UN") || (length == Undefined && !r.ExplicitVr);
        if (sequence)
        {
            if (depth + 1 > DicomLimits.MaxDepth)
            {
                throw new VolumeFormatException(r.FilePath, $"sequences nested deeper than {DicomLimits.MaxDepth} levels at {tag}");
            }

            // A UN sequence of undefined length is encoded in Implicit VR Little Endian whatever the transfer syntax.
            bool explicitVr = r.ExplicitVr, bigEndian = r.BigEndian;
            if (vr == "UN")
            {
                r.ExplicitVr = false;
                r.BigEndian = false;
            }

            var items = ReadItems(r, tag, length, state, depth + 1);
            r.ExplicitVr = explicitVr;
            r.BigEndian = bigEndian;
            ds.Add(new DicomElement(tag, "SQ", null, items));
            return;
        }

        if (length == Undefined)
        {
            throw new VolumeFormatException(r.FilePath, $"{what} ({vr}) has an undefined length, which only sequences may have");
        }

        r.CheckAvailable(length, what);
        if (length > DicomLimits.MaxKeptValue || state.KeptBytes + length > DicomLimits.MaxKeptBytes)
        {
            r.Skip(length, what);
            ds.Add(new DicomElement(tag, vr, null, null));
            return;
        }

        state.KeptBytes += length;
        ds.Add(new DicomElement(tag, vr, r.ReadBytes(length, what), null));
    }

    private static List<DicomDataset> ReadItems(DicomStreamReader r, DicomTag sequence, uint length, State state, int depth)
    {
        long? end = length == Undefined ? null : r.Position + length;
        if (end is not null)
        {
            r.CheckAvailable(length, $"sequence {DicomTags.Name(sequence)}");
        }

        var items = new List<DicomDataset>();
        while (end is null || r.Position < end)
        {
            if (!r.TryReadTag(out var tag))
            {
                throw new VolumeFormatException(r.FilePath, $"truncated file: it ends inside sequence {sequence}");
            }

            uint itemLength = r.ReadUInt32($"an item length in {sequence}");
            if (tag == DicomTags.SequenceDelimitation)
            {
                if (end is not null)
                {
                    throw new VolumeFormatException(r.FilePath, $"sequence {sequence} of defined length holds a sequence delimiter");
                }

                return items;
            }

            if (tag != DicomTags.Item)
            {
                throw new VolumeFormatException(r.FilePath, $"sequence {sequence} holds {tag} where an item (FFFE,E000) belongs");
            }

            state.Count();
            var item = new DicomDataset(r.FilePath, r.BigEndian);
            if (itemLength != Undefined)
            {
                r.CheckAvailable(itemLength, $"an item of {sequence}");
            }

            ReadDataset(r, item, itemLength == Undefined ? null : r.Position + itemLength, state, depth, topLevel: false);
            items.Add(item);
        }

        if (r.Position != end)
        {
            throw new VolumeFormatException(r.FilePath, $"an item overruns sequence {sequence} by {r.Position - end} bytes");
        }

        return items;
    }
}
