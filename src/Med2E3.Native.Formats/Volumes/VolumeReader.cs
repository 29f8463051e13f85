using System.Buffers.Binary;
using Med2E3.Native.Formats.Volumes.Dicom;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// Reads a volume of any supported kind, chosen from its content (not its name): .npy, NIfTI-1 or NIfTI-2, each
/// optionally gzip-compressed, a DICOM Part 10 file (single- or multi-frame), or a folder tree of DICOM files. The
/// result is in the canonical (D, H, W) layout described on <see cref="Volume"/>.
/// </summary>
public static class VolumeReader
{
    /// <summary>Reads the file or DICOM folder <paramref name="path"/>.</summary>
    /// <exception cref="VolumeFormatException">missing, unreadable or malformed file; the message names the problem.</exception>
    /// <exception cref="DicomSeriesChoiceException">a DICOM folder with several series and none chosen.</exception>
    public static Volume Read(string path, VolumeReadOptions? options = null)
    {
        if (Directory.Exists(path))
        {
            return DicomSeriesReader.Read(path, options);
        }

        using var file = OpenFile(path);

        // A Part 10 file is recognised from its raw bytes first: its 128-byte preamble can hold anything, even bytes
        // that read as a NIfTI sizeof_hdr of 348.
        Span<byte> head = stackalloc byte[132];
        int got = StreamUtil.ReadAtMost(file, head, path);
        file.Position = 0;
        if (DicomParser.HasPart10Marker(head[..got]))
        {
            file.Dispose();
            return DicomSeriesReader.Read(path, options);
        }

        if (DicomParser.LooksLikeRawDicom(head[..got]))
        {
            throw new VolumeFormatException(path,
                "DICOM without the Part 10 header (no 128-byte preamble and 'DICM' marker) is not supported");
        }

        return Read(file, path, options);
    }

    /// <summary>
    /// Reads a volume from a seekable <paramref name="stream"/> (a file, a memory stream or an embedded resource);
    /// <paramref name="path"/> names it in messages.
    /// </summary>
    public static Volume Read(Stream stream, string path, VolumeReadOptions? options = null)
    {
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }

        if (stream.Length - stream.Position == 0)
        {
            throw new VolumeFormatException(path, "the file is empty");
        }

        var head = new byte[132];
        long start = stream.Position;
        int headBytes = StreamUtil.ReadAtMost(stream, head, path);
        stream.Position = start;
        if (DicomParser.HasPart10Marker(head.AsSpan(0, headBytes)))
        {
            throw new VolumeFormatException(path,
                "DICOM Part 10 content is read from its file or folder (VolumeReader.Read(path)), not from a stream");
        }

        using var decoded = StreamUtil.Decode(stream, path);
        var peek = new byte[6];
        int got = StreamUtil.ReadAtMost(decoded, peek, path);
        var content = new PrefixedStream(peek.AsMemory(0, got), decoded);
        if (got >= 6 && peek[0] == 0x93 && peek.AsSpan(1, 5).SequenceEqual("NUMPY"u8))
        {
            return NpyReader.Read(content, path, options);
        }

        if (got >= 4)
        {
            int le = BinaryPrimitives.ReadInt32LittleEndian(peek);
            int be = BinaryPrimitives.ReadInt32BigEndian(peek);
            if (le is 348 or 540 || be is 348 or 540)
            {
                return NiftiReader.Read(content, path, options);
            }
        }

        throw new VolumeFormatException(path,
            $"unknown volume format: the content starts with {StreamUtil.Hex(peek.AsSpan(0, got))}, which is neither " +
            ".npy (93 4E 55 4D 50 59) nor NIfTI (sizeof_hdr 348 or 540), optionally gzip-compressed, nor DICOM Part 10 " +
            "('DICM' at byte 128)");
    }

    /// <summary>Opens a file for reading, turning a missing or unreadable file into <see cref="VolumeFormatException"/>.</summary>
    internal static FileStream OpenFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            string problem = e is FileNotFoundException or DirectoryNotFoundException
                ? "file not found"
                : $"cannot open: {StreamUtil.OneLine(e.Message)}";
            throw new VolumeFormatException(path, problem, e);
        }
    }
}
