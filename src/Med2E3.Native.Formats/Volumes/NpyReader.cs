using System.Buffers.Binary;
using System.Text;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// Reads NumPy .npy files, the format of the M3D data set: versions 1.0, 2.0 and 3.0; dtypes f2 f4 f8 u1 i1 i2 u2
/// i4 u4 i8 u8 b1 in either byte order; C or Fortran order; shape (D, H, W) or (1, D, H, W).
/// </summary>
/// <remarks>
/// The array's axes are taken as the model's (D, H, W) as stored (M3D stacks axial slices along the first axis);
/// .npy carries no orientation, so nothing is permuted. M3D volumes are already min–max normalised to [0,1], which
/// is why <c>Preprocess.Run</c> (in Med2E3.Native.Models) skips normalisation for them by default.
/// A gzip-compressed .npy is accepted too (detected from its content).
/// </remarks>
public static class NpyReader
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    private const int MaxHeaderBytes = 1 << 20;

    /// <summary>Reads an .npy file (optionally gzip-compressed).</summary>
    /// <exception cref="VolumeFormatException">the file is not a readable single-channel 3-D .npy volume.</exception>
    public static Volume Read(string path, VolumeReadOptions? options = null)
    {
        using var file = VolumeReader.OpenFile(path);
        using var decoded = StreamUtil.Decode(file, path);
        return Read(decoded, path, options);
    }

    /// <summary>Reads .npy content from <paramref name="stream"/>; <paramref name="path"/> names it in messages.</summary>
    public static Volume Read(Stream stream, string path, VolumeReadOptions? options = null)
    {
        options ??= VolumeReadOptions.Default;
        Span<byte> pre = stackalloc byte[12];
        int got = StreamUtil.ReadAtMost(stream, pre[..8], path);
        if (got < 8 || !pre[..6].SequenceEqual(Magic))
        {
            throw new VolumeFormatException(path,
                $"not a .npy file: bad magic {StreamUtil.Hex(pre[..Math.Min(got, 6)])} (expected 93 4E 55 4D 50 59)");
        }

        byte major = pre[6];
        byte minor = pre[7];
        if (minor != 0 || major is < 1 or > 3)
        {
            throw new VolumeFormatException(path,
                $"unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)");
        }

        int lenBytes = major == 1 ? 2 : 4;
        if (StreamUtil.ReadAtMost(stream, pre.Slice(8, lenBytes), path) < lenBytes)
        {
            throw new VolumeFormatException(path, "truncated .npy header: the file ends inside the header length");
        }

        long headerLen = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(pre[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(pre[8..]);
        if (headerLen == 0 || headerLen > MaxHeaderBytes)
        {
            throw new VolumeFormatException(path,
                $"bad .npy header length {headerLen} (expected 1 to {MaxHeaderBytes} bytes)");
        }

        var headerBytes = new byte[headerLen];
        int hgot = StreamUtil.ReadAtMost(stream, headerBytes, path);
        if (hgot < headerLen)
        {
            throw new VolumeFormatException(path,
                $"truncated .npy header: expected {headerLen} bytes, the file ends after {hgot}");
        }

        // Versions 1 and 2 store latin-1, version 3 UTF-8; the dict itself is ASCII in practice.
        string header = major == 3 ? Encoding.UTF8.GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        var (descr, fortran, shape) = ParseHeader(header, path);
        var (type, bigEndian) = ParseDescr(descr, path);
        var (d, h, w) = SpatialShape(shape, path, options);

        if (options.Frame is > 0)
        {
            throw new VolumeFormatException(path, $"frame {options.Frame} does not exist: a .npy volume has a single frame (0)");
        }

        // The data must be in the file before the voxels are allocated.
        string where = $"('{descr}') after the {10 + (lenBytes - 2) + headerLen}-byte header";
        long voxels = (long)d * h * w;
        long bytes = voxels * VoxelTypeInfo.Size(type);
        StreamUtil.EnsureAvailable(stream, bytes, path, have => VoxelDecoder.Truncated(bytes, type, where, have));

        // C order stores W fastest (the canonical order); Fortran order stores D fastest, then H, then W.
        var data = new float[voxels];
        var layout = fortran
            ? new CanonicalLayout(d, h, w, 0, (long)h * w, w, 1)
            : new CanonicalLayout(d, h, w, 0, 1, w, (long)h * w);
        var (ni, nj, nk) = fortran ? (d, h, w) : (w, h, d);
        VoxelDecoder.Read(stream, type, bigEndian, data, layout, ni, nj, nk, scale: false, slope: 1, inter: 0, path,
            where, roundOnce: true);

        var warnings = new List<string>();
        if (VoxelDecoder.CheckFinite(data, h, w, options.NonFinite, path) is { } warning)
        {
            warnings.Add(warning);
        }

        return new Volume(data, d, h, w, path, VolumeFileFormat.Npy)
        {
            FormatDetails = $".npy {major}.0, '{descr}', {(fortran ? "Fortran" : "C")} order, shape {ShapeText(shape)}",
            Warnings = warnings,
        };
    }

    private static (int D, int H, int W) SpatialShape(long[] shape, string path, VolumeReadOptions options)
    {
        string text = ShapeText(shape);
        if (shape.Length is not (3 or 4))
        {
            throw new VolumeFormatException(path, $"shape {text} is not (D, H, W) or (1, D, H, W)");
        }

        if (shape.Length == 4 && shape[0] != 1 && shape[3] == 1)
        {
            throw new VolumeFormatException(path,
                $"shape {text} is channels-last (D, H, W, 1); M3D volumes are channel-first (1, D, H, W) or (D, H, W): " +
                "save a[..., 0] or np.moveaxis(a, -1, 0) instead");
        }

        if (shape.Length == 4 && shape[0] != 1)
        {
            throw new VolumeFormatException(path,
                $"shape {text} has {shape[0]} channels; only single-channel volumes (1, D, H, W) are supported");
        }

        var s = shape[^3..];
        if (s.Any(n => n < 1))
        {
            throw new VolumeFormatException(path, $"shape {text} has an empty axis");
        }

        long limit = Math.Min(options.MaxVoxels, VolumeReadOptions.HardMaxVoxels);
        Int128 voxels = (Int128)s[0] * s[1] * s[2];
        if (s.Any(n => n > limit) || voxels > limit)
        {
            throw new VolumeFormatException(path,
                $"shape {text} has {voxels} voxels, more than the limit of {limit} (VolumeReadOptions.MaxVoxels)");
        }

        return ((int)s[0], (int)s[1], (int)s[2]);
    }

    private static string Shorten(string s) => s.Length <= 120 ? s : s[..117] + "...";

    private static string ShapeText(long[] shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    private static (VoxelType Type, bool BigEndian) ParseDescr(string descr, string path)
    {
        if (descr.StartsWith('['))
        {
            throw new VolumeFormatException(path,
                $"structured dtype {Shorten(descr)} (a record array with named fields) is not supported; save a " +
                "plain numeric array of shape (1, D, H, W) or (D, H, W)");
        }

        string? kind = descr.Length >= 2 ? descr[1] switch
        {
            'O' => "an object array (pickled Python objects, which are never loaded)",
            'c' => "a complex dtype",
            'S' or 'a' or 'U' => "a string dtype",
            'V' => "a raw void dtype",
            'M' or 'm' => "a date/time dtype",
            _ => null,
        } : null;
        if (kind is not null)
        {
            throw new VolumeFormatException(path,
                $"unsupported .npy dtype '{Shorten(descr)}', {kind} (supported: f2 f4 f8 u1 i1 i2 u2 i4 u4 i8 u8 b1, " +
                "with '<', '>' or '|')");
        }

        if (descr.Length >= 2)
        {
            char order = descr[0];
            string code = descr[1..];
            VoxelType? type = code switch
            {
                "b1" => VoxelType.Bool,
                "u1" => VoxelType.UInt8,
                "i1" => VoxelType.Int8,
                "i2" => VoxelType.Int16,
                "u2" => VoxelType.UInt16,
                "i4" => VoxelType.Int32,
                "u4" => VoxelType.UInt32,
                "i8" => VoxelType.Int64,
                "u8" => VoxelType.UInt64,
                "f2" => VoxelType.Float16,
                "f4" => VoxelType.Float32,
                "f8" => VoxelType.Float64,
                _ => null,
            };
            bool oneByte = type is VoxelType.Bool or VoxelType.UInt8 or VoxelType.Int8;
            if (type is { } t && (order is '<' or '>' || (order == '|' && oneByte)))
            {
                return (t, order == '>');
            }
        }

        throw new VolumeFormatException(path,
            $"unsupported .npy dtype {Files.InputText.Quote(descr)} (supported: f2 f4 f8 u1 i1 i2 u2 i4 u4 i8 u8 b1, with '<', '>' or '|')");
    }

    /// <summary>Parses the header's Python dict literal: {'descr': '&lt;f4', 'fortran_order': False, 'shape': (1, 32, 256, 256), }.</summary>
    private static (string Descr, bool Fortran, long[] Shape) ParseHeader(string header, string path)
    {
        var p = new HeaderParser(header, path);
        string? descr = null;
        bool? fortran = null;
        long[]? shape = null;
        p.Expect('{');
        while (!p.TryConsume('}'))
        {
            string key = p.String();
            p.Expect(':');
            switch (key)
            {
                case "descr":
                    descr = p.Descr();
                    break;
                case "fortran_order":
                    fortran = p.Bool();
                    break;
                case "shape":
                    shape = p.Tuple();
                    break;
                default:
                    throw p.Error($"unexpected key {Files.InputText.Quote(key)}");
            }

            if (!p.TryConsume(','))
            {
                p.Expect('}');
                break;
            }
        }

        p.ExpectEnd();
        if (descr is null || fortran is null || shape is null)
        {
            string missing = descr is null ? "descr" : fortran is null ? "fortran_order" : "shape";
            throw new VolumeFormatException(path, $"malformed .npy header: no '{missing}' key in {p.Quoted}");
        }

        return (descr, fortran.Value, shape);
    }

    private sealed class HeaderParser(string text, string path)
    {
        private int _pos;

        public string Quoted => "\"" + Files.InputText.Bounded(text.TrimEnd()) + "\"";

        public VolumeFormatException Error(string what) =>
            new(path, $"malformed .npy header: {what} at character {_pos} of {Quoted}");

        private void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos]))
            {
                _pos++;
            }
        }

        public bool TryConsume(char c)
        {
            SkipSpace();
            if (_pos < text.Length && text[_pos] == c)
            {
                _pos++;
                return true;
            }

            return false;
        }

        public void Expect(char c)
        {
            if (!TryConsume(c))
            {
                throw Error($"expected '{c}'");
            }
        }

        public void ExpectEnd()
        {
            SkipSpace();
            if (_pos != text.Length)
            {
                throw Error("unexpected text after the dict");
            }
        }

        public string String()
        {
            SkipSpace();
            if (_pos >= text.Length || text[_pos] is not ('\'' or '"'))
            {
                throw Error("expected a quoted string");
            }

            char quote = text[_pos++];
            int end = text.IndexOf(quote, _pos);
            if (end < 0)
            {
                throw Error("unterminated string");
            }

            string s = text[_pos..end];
            _pos = end + 1;
            return s;
        }

        /// <summary>The descr value: a quoted dtype string, or the text of a structured dtype's list of fields.</summary>
        public string Descr()
        {
            SkipSpace();
            if (_pos >= text.Length || text[_pos] != '[')
            {
                return String();
            }

            int start = _pos;
            int depth = 0;
            char quote = '\0';
            for (; _pos < text.Length; _pos++)
            {
                char c = text[_pos];
                if (quote != '\0')
                {
                    quote = c == quote ? '\0' : quote;
                }
                else if (c is '\'' or '"')
                {
                    quote = c;
                }
                else if (c is '[' or '(')
                {
                    depth++;
                }
                else if (c is ']' or ')' && --depth == 0)
                {
                    _pos++;
                    return text[start.._pos];
                }
            }

            throw Error("unterminated list in 'descr'");
        }

        public bool Bool()
        {
            SkipSpace();
            foreach (var (word, value) in new[] { ("True", true), ("False", false) })
            {
                if (string.CompareOrdinal(text, _pos, word, 0, word.Length) == 0)
                {
                    _pos += word.Length;
                    return value;
                }
            }

            throw Error("expected True or False");
        }

        public long[] Tuple()
        {
            Expect('(');
            var items = new List<long>();
            while (!TryConsume(')'))
            {
                SkipSpace();
                int start = _pos;
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                {
                    _pos++;
                }

                // numpy may write Python 2 long literals such as 3L.
                string digits = text[start.._pos];
                if (_pos < text.Length && text[_pos] == 'L')
                {
                    _pos++;
                }

                if (digits.Length == 0 || !long.TryParse(digits, out long v))
                {
                    throw Error("expected a non-negative integer in the shape");
                }

                items.Add(v);
                if (!TryConsume(','))
                {
                    Expect(')');
                    break;
                }
            }

            return [.. items];
        }
    }
}
