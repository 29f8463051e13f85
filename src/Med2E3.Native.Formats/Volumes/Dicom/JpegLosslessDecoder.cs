namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Decodes one grayscale JPEG Lossless image (ISO/IEC 10918-1 Annex H, process 14: SOF3, Huffman coding), the
/// encapsulated format of DICOM transfer syntaxes 1.2.840.10008.1.2.4.70 (selection value 1) and .57 (any selection
/// value 1–7), with restart intervals and point transform.
/// </summary>
/// <remarks>
/// Each sample is a prediction from its decoded neighbours (Ra left, Rb above, Rc above-left; the selection value
/// picks the predictor) plus a Huffman-coded difference, modulo 2^16 (H.1.2.1). The first sample of the image and of
/// every restart interval is predicted as 2^(P − Pt − 1), the rest of that first row from Ra, the first sample of
/// every other row from Rb.
/// </remarks>
internal static class JpegLosslessDecoder
{
    /// <summary>
    /// Decodes <paramref name="data"/> (SOI to EOI) into <paramref name="dst"/>, row-major, as unsigned sample values;
    /// the image must be <paramref name="rows"/> × <paramref name="columns"/> with one component. Returns the precision.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> data, int rows, int columns, Span<double> dst, string path)
    {
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8)
        {
            throw Bad(path, "the frame does not start with a JPEG SOI marker (FF D8)");
        }

        var tables = new HuffmanTable?[4];
        int precision = 0, width = 0, height = 0, restart = 0;
        int pos = 2;
        while (true)
        {
            int marker = NextMarker(data, ref pos, path);
            if (marker == 0xD9)
            {
                throw Bad(path, "the JPEG data ends (EOI) before its scan");
            }

            if (marker is >= 0xD0 and <= 0xD7 or 0x01)
            {
                continue; // standalone markers without a length
            }

            int length = Word(data, pos, path);
            if (length < 2 || pos + length > data.Length)
            {
                throw Bad(path, $"JPEG marker FF {marker:X2} has a bad length {length}");
            }

            var segment = data.Slice(pos + 2, length - 2);
            pos += length;
            switch (marker)
            {
                case 0xC4:
                    ReadHuffmanTables(segment, tables, path);
                    break;
                case 0xC3:
                    if (segment.Length < 6)
                    {
                        throw Bad(path, "the JPEG SOF3 segment is too short");
                    }

                    precision = segment[0];
                    height = (segment[1] << 8) | segment[2];
                    width = (segment[3] << 8) | segment[4];
                    int components = segment[5];
                    if (components != 1)
                    {
                        throw Bad(path, $"JPEG image with {components} components; only grayscale (1) is supported");
                    }

                    if (precision is < 2 or > 16)
                    {
                        throw Bad(path, $"JPEG sample precision {precision} (expected 2 to 16)");
                    }

                    if (width != columns || height != rows)
                    {
                        throw Bad(path, $"JPEG image is {width}×{height} but the DICOM header says {columns}×{rows}");
                    }

                    break;
                case 0xC0 or 0xC1 or 0xC2 or 0xC5 or 0xC6 or 0xC7 or 0xC9 or 0xCA or 0xCB or 0xCD or 0xCE or 0xCF:
                    throw Bad(path, $"JPEG frame marker SOF{marker - 0xC0} is not lossless process 14 (SOF3)");
                case 0xDD:
                    restart = segment.Length >= 2 ? (segment[0] << 8) | segment[1] : 0;
                    break;
                case 0xDA:
                    if (precision == 0)
                    {
                        throw Bad(path, "the JPEG scan comes before its SOF3 frame header");
                    }

                    if (segment.Length < 6 || segment[0] != 1)
                    {
                        throw Bad(path, "the JPEG scan must hold exactly one component");
                    }

                    int table = segment[2] >> 4;
                    int predictor = segment[3];
                    int pointTransform = segment[5] & 0x0F;
                    if (table > 3 || tables[table] is null)
                    {
                        throw Bad(path, $"the JPEG scan uses Huffman table {table}, which is not defined");
                    }

                    if (predictor is < 1 or > 7)
                    {
                        throw Bad(path, $"JPEG lossless predictor (selection value) {predictor} (expected 1 to 7)");
                    }

                    if (pointTransform >= precision)
                    {
                        throw Bad(path, $"JPEG point transform {pointTransform} ≥ precision {precision}");
                    }

                    if (restart > 0 && restart % width != 0)
                    {
                        throw Bad(path, $"JPEG restart interval {restart} is not a whole number of {width}-sample rows");
                    }

                    DecodeScan(data[pos..], tables[table]!, precision, pointTransform, predictor, width, height, restart, dst, path);
                    return precision;
                default:
                    break; // APPn, COM, DQT, DNL and the like carry nothing a lossless grayscale decode needs
            }
        }
    }

    private static void DecodeScan(ReadOnlySpan<byte> data, HuffmanTable table, int precision, int pt, int predictor,
        int width, int height, int restart, Span<double> dst, string path)
    {
        var bits = new BitReader(data, path);
        int initial = 1 << (precision - pt - 1);
        var previous = new int[width];
        var current = new int[width];
        int rowsPerInterval = restart > 0 ? restart / width : int.MaxValue;
        int rowInInterval = 0;
        for (int y = 0; y < height; y++)
        {
            if (restart > 0 && rowInInterval == rowsPerInterval)
            {
                bits.Restart();
                rowInInterval = 0;
            }

            bool firstRow = rowInInterval == 0;
            for (int x = 0; x < width; x++)
            {
                int prediction;
                if (firstRow)
                {
                    prediction = x == 0 ? initial : current[x - 1];
                }
                else if (x == 0)
                {
                    prediction = previous[0];
                }
                else
                {
                    int ra = current[x - 1], rb = previous[x], rc = previous[x - 1];
                    prediction = predictor switch
                    {
                        1 => ra,
                        2 => rb,
                        3 => rc,
                        4 => ra + rb - rc,
                        5 => ra + ((rb - rc) >> 1),
                        6 => rb + ((ra - rc) >> 1),
                        _ => (ra + rb) >> 1,
                    };
                }

                int category = bits.Decode(table);
                int diff;
                if (category == 0)
                {
                    diff = 0;
                }
                else if (category == 16)
                {
                    diff = 32768;
                }
                else if (category > 16)
                {
                    throw Bad(path, $"JPEG difference category {category} (expected 0 to 16)");
                }
                else
                {
                    int v = bits.Receive(category);
                    diff = v < 1 << (category - 1) ? v - (1 << category) + 1 : v;
                }

                current[x] = (prediction + diff) & 0xFFFF;
            }

            for (int x = 0; x < width; x++)
            {
                dst[y * width + x] = current[x] << pt;
            }

            (previous, current) = (current, previous);
            rowInInterval++;
        }
    }

    private static void ReadHuffmanTables(ReadOnlySpan<byte> s, HuffmanTable?[] tables, string path)
    {
        int i = 0;
        while (i < s.Length)
        {
            int cls = s[i] >> 4, id = s[i] & 0x0F;
            if (id > 3 || i + 17 > s.Length)
            {
                throw Bad(path, "a JPEG DHT segment is malformed");
            }

            var counts = s.Slice(i + 1, 16).ToArray();
            int total = counts.Sum(c => c);
            if (total > 256 || i + 17 + total > s.Length)
            {
                throw Bad(path, "a JPEG DHT segment declares more symbols than it holds");
            }

            var symbols = s.Slice(i + 17, total).ToArray();
            if (cls == 0)
            {
                tables[id] = new HuffmanTable(counts, symbols, path);
            }

            i += 17 + total;
        }
    }

    private static int NextMarker(ReadOnlySpan<byte> data, ref int pos, string path)
    {
        if (pos >= data.Length || data[pos] != 0xFF)
        {
            throw Bad(path, $"expected a JPEG marker at byte {pos}");
        }

        while (pos < data.Length && data[pos] == 0xFF)
        {
            pos++; // fill bytes
        }

        if (pos >= data.Length)
        {
            throw Bad(path, "the JPEG data ends inside a marker");
        }

        return data[pos++];
    }

    private static int Word(ReadOnlySpan<byte> data, int pos, string path) =>
        pos + 1 < data.Length ? (data[pos] << 8) | data[pos + 1] : throw Bad(path, "the JPEG data ends inside a marker segment");

    private static VolumeFormatException Bad(string path, string problem) => new(path, problem);

    /// <summary>A Huffman table in the form of ISO 10918-1 F.2.2.3: the largest code and first symbol per length.</summary>
    private sealed class HuffmanTable
    {
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValPtr = new int[17];
        public readonly int[] MinCode = new int[17];
        public readonly byte[] Symbols;

        // A 9-bit lookahead: for every 9-bit prefix that starts with a code of ≤ 9 bits, its length and symbol.
        public readonly short[] Fast = new short[512];

        public HuffmanTable(byte[] counts, byte[] symbols, string path)
        {
            Symbols = symbols;
            int code = 0, k = 0;
            Array.Fill(Fast, (short)-1);
            for (int len = 1; len <= 16; len++)
            {
                ValPtr[len] = k;
                MinCode[len] = code;
                for (int n = 0; n < counts[len - 1]; n++, k++, code++)
                {
                    if (len <= 9)
                    {
                        int first = code << (9 - len);
                        for (int f = 0; f < 1 << (9 - len); f++)
                        {
                            Fast[first + f] = (short)((len << 8) | symbols[k]);
                        }
                    }
                }

                MaxCode[len] = counts[len - 1] > 0 ? code - 1 : -1;
                if (code > 1 << len)
                {
                    throw Bad(path, "a JPEG Huffman table has more codes than its code lengths allow");
                }

                code <<= 1;
            }

            MaxCode[17] = int.MaxValue;
        }
    }

    /// <summary>Entropy-coded bits with byte stuffing (FF 00) removed; stops feeding data at any marker.</summary>
    private ref struct BitReader(ReadOnlySpan<byte> data, string path)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;
        private ulong _buffer;
        private int _count;
        private int _padding;

        private void Fill(int need)
        {
            while (_count < need)
            {
                byte b = 0;
                if (_pos < _data.Length && _data[_pos] != 0xFF)
                {
                    b = _data[_pos++];
                }
                else if (_pos + 1 < _data.Length && _data[_pos] == 0xFF && _data[_pos + 1] == 0x00)
                {
                    b = 0xFF;
                    _pos += 2;
                }
                else if (++_padding > 64)
                {
                    // At a marker or the end: zeros stand in, but a scan that needs many more bits is corrupt.
                    throw Bad(path, "the JPEG scan ends before its last sample");
                }

                _buffer = (_buffer << 8) | b;
                _count += 8;
            }
        }

        public int Receive(int n)
        {
            Fill(n);
            _count -= n;
            return (int)((_buffer >> _count) & ((1UL << n) - 1));
        }

        public int Decode(HuffmanTable t)
        {
            Fill(16);
            int peek = (int)((_buffer >> (_count - 9)) & 0x1FF);
            short fast = t.Fast[peek];
            if (fast >= 0)
            {
                _count -= fast >> 8;
                return fast & 0xFF;
            }

            int code = 0;
            for (int len = 1; len <= 16; len++)
            {
                code = (code << 1) | Receive(1);
                if (code <= t.MaxCode[len] && t.MaxCode[len] >= 0)
                {
                    int index = t.ValPtr[len] + code - t.MinCode[len];
                    return index < t.Symbols.Length ? t.Symbols[index] : throw Bad(path, "a JPEG Huffman code has no symbol");
                }
            }

            throw Bad(path, "the JPEG scan holds a Huffman code that is not in its table");
        }

        /// <summary>Drops the bits of the current restart interval and steps over its RSTn marker.</summary>
        public void Restart()
        {
            _buffer = 0;
            _count = 0;
            _padding = 0;
            while (_pos + 1 < _data.Length && _data[_pos] == 0xFF && _data[_pos + 1] == 0xFF)
            {
                _pos++;
            }

            if (_pos + 1 < _data.Length && _data[_pos] == 0xFF && _data[_pos + 1] is >= 0xD0 and <= 0xD7)
            {
                _pos += 2;
                return;
            }

            throw Bad(path, $"expected a JPEG restart marker at byte {_pos} of the scan");
        }
    }
}
