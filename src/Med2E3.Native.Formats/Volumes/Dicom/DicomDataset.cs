using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// The attributes of a DICOM dataset (or of a sequence item), with typed getters. A value that cannot be read as the
/// getter's type is a <see cref="VolumeFormatException"/> naming the file and the attribute.
/// </summary>
public sealed class DicomDataset
{
    private readonly Dictionary<uint, DicomElement> _elements = [];

    internal DicomDataset(string path, bool bigEndian)
    {
        FilePath = path;
        BigEndian = bigEndian;
    }

    /// <summary>The file the dataset was read from.</summary>
    public string FilePath { get; }

    /// <summary>True when binary values are big-endian (Explicit VR Big Endian).</summary>
    public bool BigEndian { get; }

    /// <summary>True when the dataset holds <paramref name="tag"/> (with or without a value).</summary>
    public bool Contains(DicomTag tag) => _elements.ContainsKey(tag.Value);

    internal void Add(DicomElement element) => _elements[element.Tag.Value] = element;

    /// <summary>A text value without its padding (trailing spaces and NULs), or null when absent or empty.</summary>
    public string? GetString(DicomTag tag)
    {
        if (!_elements.TryGetValue(tag.Value, out var e) || e.Value is null)
        {
            return null;
        }

        string s = Clean(Encoding.Latin1.GetString(e.Value).TrimEnd(' ', '\0').TrimStart(' '));
        return s.Length == 0 ? null : s;
    }

    /// <summary>Free text (e.g. SeriesDescription), decoded as UTF-8 when the character set is ISO_IR 192, else Latin-1.</summary>
    public string? GetText(DicomTag tag, bool utf8)
    {
        if (!_elements.TryGetValue(tag.Value, out var e) || e.Value is null)
        {
            return null;
        }

        string s = Clean((utf8 ? Encoding.UTF8 : Encoding.Latin1).GetString(e.Value).TrimEnd(' ', '\0').Trim());
        return s.Length == 0 ? null : s;
    }

    /// <summary>
    /// The numbers of a numeric attribute: DS and IS text (backslash-separated), or binary US, SS, UL, SL, FL, FD.
    /// Null when absent or empty.
    /// </summary>
    public double[]? GetNumbers(DicomTag tag)
    {
        if (!_elements.TryGetValue(tag.Value, out var e) || e.Value is null || e.Value.Length == 0)
        {
            return null;
        }

        var b = e.Value.AsSpan();
        int size = e.Vr switch
        {
            "US" or "SS" => 2,
            "UL" or "SL" or "FL" => 4,
            "FD" => 8,
            _ => 0,
        };
        if (size > 0 && b.Length % size != 0)
        {
            throw new VolumeFormatException(FilePath,
                $"{DicomTags.Name(tag)} ({e.Vr}) holds {b.Length} bytes, not a whole number of {size}-byte values");
        }

        switch (e.Vr)
        {
            case "US":
                return Binary(b, 2, s => BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s));
            case "SS":
                return Binary(b, 2, s => BigEndian ? BinaryPrimitives.ReadInt16BigEndian(s) : BinaryPrimitives.ReadInt16LittleEndian(s));
            case "UL":
                return Binary(b, 4, s => BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s));
            case "SL":
                return Binary(b, 4, s => BigEndian ? BinaryPrimitives.ReadInt32BigEndian(s) : BinaryPrimitives.ReadInt32LittleEndian(s));
            case "FL":
                return Binary(b, 4, s => BigEndian ? BinaryPrimitives.ReadSingleBigEndian(s) : BinaryPrimitives.ReadSingleLittleEndian(s));
            case "FD":
                return Binary(b, 8, s => BigEndian ? BinaryPrimitives.ReadDoubleBigEndian(s) : BinaryPrimitives.ReadDoubleLittleEndian(s));
        }

        string text = Encoding.Latin1.GetString(b).TrimEnd(' ', '\0');
        if (text.Trim().Length == 0)
        {
            return null;
        }

        var parts = text.Split('\\');
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])
                || !double.IsFinite(values[i]))
            {
                throw new VolumeFormatException(FilePath,
                    $"{DicomTags.Name(tag)} is '{Shorten(text)}', which is not a list of numbers");
            }
        }

        return values;
    }

    /// <summary>
    /// The numbers of <paramref name="tag"/>, which must hold exactly <paramref name="count"/> values; null when
    /// absent.
    /// </summary>
    public double[]? GetNumbers(DicomTag tag, int count)
    {
        var v = GetNumbers(tag);
        if (v is not null && v.Length != count)
        {
            throw new VolumeFormatException(FilePath,
                $"{DicomTags.Name(tag)} has {v.Length} value(s), expected {count}");
        }

        return v;
    }

    /// <summary>The first number of <paramref name="tag"/> as a whole number, or null when absent.</summary>
    public int? GetInt(DicomTag tag)
    {
        var v = GetNumbers(tag);
        if (v is null)
        {
            return null;
        }

        if (v[0] != Math.Floor(v[0]) || v[0] < int.MinValue || v[0] > int.MaxValue)
        {
            throw new VolumeFormatException(FilePath, $"{DicomTags.Name(tag)} is {v[0]}, not a whole number");
        }

        return (int)v[0];
    }

    /// <summary>The items of a sequence attribute, or null when absent.</summary>
    public IReadOnlyList<DicomDataset>? GetItems(DicomTag tag) =>
        _elements.TryGetValue(tag.Value, out var e) ? e.Items ?? [] : null;

    /// <summary>The first item of a sequence, or null.</summary>
    public DicomDataset? GetItem(DicomTag tag) => GetItems(tag) is { Count: > 0 } items ? items[0] : null;

    private double[] Binary(ReadOnlySpan<byte> b, int size, Func<ReadOnlySpan<byte>, double> read)
    {
        var values = new double[b.Length / size];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = read(b.Slice(i * size, size));
        }

        return values;
    }

    /// <summary>A value as messages quote it: control characters shown as '?', at most 64 characters.</summary>
    internal static string Shorten(string s)
    {
        s = Clean(s);
        return s.Length <= 64 ? s : s[..61] + "...";
    }

    // Text from a file never carries control characters (line breaks, escapes) into names or messages.
    private static string Clean(string s) =>
        s.Any(char.IsControl) ? new string([.. s.Select(c => char.IsControl(c) ? '?' : c)]) : s;
}
