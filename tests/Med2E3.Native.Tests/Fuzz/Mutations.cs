using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Med2E3.Native.Tests.Fuzz;

/// <summary>
/// Seeded mutations of a valid input: byte-level (bit flips, interesting integers and floats, inserted, deleted,
/// repeated and truncated ranges, with a bias towards a header region), JSON-aware (values and keys swapped for
/// boundary numbers, wrong types, invalid text, long strings; members deleted or repeated) and line-aware for text.
/// Each returns a fresh array; the seed is not changed.
/// </summary>
internal static class Mutations
{
    static readonly long[] Integers =
    [
        0, 1, -1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 255, 256, 348, 352, 540, 1024, 32767, 32768, 65535, 65536,
        1 << 20, 1 << 24, 1 << 28, 1 << 29, 1 << 30, int.MaxValue, unchecked((int)0x80000000), uint.MaxValue,
        1L << 32, 1L << 40, long.MaxValue, long.MinValue,
    ];

    static readonly double[] Floats =
    [
        0, -0.0, 1, -1, 0.5, 1e-30, 1e30, 3.4e38, double.NaN, double.PositiveInfinity, double.NegativeInfinity,
        348, 352, 1 << 30,
    ];

    /// <summary>1–4 stacked byte-level mutations; 60% of the positions fall in the first <paramref name="hotBytes"/>.</summary>
    public static byte[] Binary(Random r, byte[] seed, int hotBytes = 0)
    {
        var b = new List<byte>(seed);
        int ops = 1 + r.Next(4);
        for (int k = 0; k < ops; k++)
        {
            int Pos(int width = 1)
            {
                int n = Math.Max(1, b.Count - width + 1);
                return hotBytes > 0 && r.NextDouble() < 0.6 ? r.Next(Math.Min(n, hotBytes)) : r.Next(n);
            }
            if (b.Count == 0)
            {
                b.AddRange(RandomBytes(r, 1 + r.Next(16)));
                continue;
            }
            switch (r.Next(12))
            {
                case 0:
                {
                    int p = Pos();
                    b[p] ^= (byte)(1 << r.Next(8));
                    break;
                }
                case 1:
                    b[Pos()] = (byte)r.Next(256);
                    break;
                case 2:
                    b[Pos()] = new byte[] { 0, 1, 0x7F, 0x80, 0xFF }[r.Next(5)];
                    break;
                case 3:
                case 4:
                case 5:
                {
                    int width = new[] { 2, 4, 8 }[r.Next(3)];
                    if (b.Count < width) break;
                    long v = Integers[r.Next(Integers.Length)];
                    var bytes = new byte[8];
                    if (r.Next(2) == 0) BinaryPrimitives.WriteInt64LittleEndian(bytes, v);
                    else BinaryPrimitives.WriteInt64BigEndian(bytes, v << (8 * (8 - width)));
                    int p = Pos(width);
                    for (int i = 0; i < width; i++) b[p + i] = bytes[i];
                    break;
                }
                case 6:
                {
                    int width = r.Next(2) == 0 ? 4 : 8;
                    if (b.Count < width) break;
                    double v = Floats[r.Next(Floats.Length)];
                    var bytes = new byte[8];
                    if (width == 4) BinaryPrimitives.WriteSingleLittleEndian(bytes, (float)v);
                    else BinaryPrimitives.WriteDoubleLittleEndian(bytes, v);
                    if (r.Next(4) == 0) Array.Reverse(bytes, 0, width);
                    int p = Pos(width);
                    for (int i = 0; i < width; i++) b[p + i] = bytes[i];
                    break;
                }
                case 7:
                {
                    int p = Pos();
                    int n = Math.Min(b.Count - p, r.Next(2) == 0 ? 1 + r.Next(16) : 1 + r.Next(Math.Max(1, b.Count / 4)));
                    b.RemoveRange(p, n);
                    break;
                }
                case 8:
                    b.InsertRange(Pos(), RandomBytes(r, 1 + r.Next(16)));
                    break;
                case 9:
                {
                    int p = Pos();
                    int n = Math.Min(b.Count - p, 1 + r.Next(64));
                    var chunk = b.GetRange(p, n);
                    int times = 1 + r.Next(r.Next(2) == 0 ? 4 : 256);
                    for (int i = 0; i < times; i++) b.InsertRange(p, chunk);
                    break;
                }
                case 10:
                {
                    int cut = r.Next(b.Count);
                    b.RemoveRange(cut, b.Count - cut);
                    break;
                }
                default:
                {
                    int p = Pos();
                    b[p] = (byte)(b[p] + r.Next(-3, 4));
                    break;
                }
            }
        }
        return [.. b];
    }

    static byte[] RandomBytes(Random r, int n)
    {
        var bytes = new byte[n];
        r.NextBytes(bytes);
        return bytes;
    }

    // ------------------------------------------------------------------------------------------------ JSON

    static readonly string[] JsonValues =
    [
        "0", "-1", "1", "2", "3", "7", "16", "65536", "536870912", "2147483647", "2147483648", "-2147483648",
        "4294967296", "9223372036854775807", "99999999999999999999", "1e400", "-1e400", "1e-400", "1e308", "0.0", "-0.0",
        "0.5", "1.5", "1e-30", "-1e-5", "4096.0", "null", "true", "false", "[]", "{}", "[0]", "[-1]", "[1, 2]",
        "[2147483647, 2147483647, 2147483647]", "[0, 0, 0]", "[1e400]", "[\"a\"]", "{\"a\": 1}",
        "\"\"", "\"\\ud800\"", "\"\\udfff\\ud800\"", "\"a\\u0000b\"", "\"\\n\"", "\"..\\/..\\/x\"", "\"longrope\"",
        "\"default\"", "\"su\"", "\"silu\"", "\"x\"", "\"<unk>\"", "\"human\"", "\"gpt\"",
    ];

    static readonly byte[][] RawValues =
    [
        [(byte)'"', 0xFF, 0xFE, (byte)'"'],
        [(byte)'"', 0xC3, 0x28, (byte)'"'],
        [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'],
        [(byte)'"', (byte)'a', 0x00, (byte)'"'],
    ];

    /// <summary>A JSON value the mutator may put in place of another.</summary>
    static byte[] InterestingValue(Random r)
    {
        int pick = r.Next(JsonValues.Length + RawValues.Length + 4);
        if (pick < JsonValues.Length) return Encoding.UTF8.GetBytes(JsonValues[pick]);
        pick -= JsonValues.Length;
        if (pick < RawValues.Length) return RawValues[pick];
        return (pick - RawValues.Length) switch
        {
            0 => Encoding.UTF8.GetBytes("\"" + new string('A', 1000 + r.Next(20000)) + "\""),
            1 => Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Repeat("1", 1 + r.Next(5000))) + "]"),
            2 => Encoding.UTF8.GetBytes(new string('[', 40 + r.Next(40)) + new string(']', 40 + r.Next(40))),
            _ => Encoding.UTF8.GetBytes("\"" + string.Concat(Enumerable.Repeat("\\u00e9\\n", 1 + r.Next(400))) + "\""),
        };
    }

    static byte[] InterestingName(Random r) => r.Next(6) switch
    {
        0 => "\"\\ud800\""u8.ToArray(),
        1 => [(byte)'"', 0xFF, (byte)'"'],
        2 => "\"\""u8.ToArray(),
        3 => Encoding.UTF8.GetBytes("\"" + new string('k', 1000 + r.Next(5000)) + "\""),
        4 => "\"a\\nb\""u8.ToArray(),
        _ => "\"__metadata__\""u8.ToArray(),
    };

    /// <summary>A token of a JSON text: its byte range and what it is.</summary>
    readonly record struct Token(int Start, int End, JsonTokenType Type, bool IsName, int MemberStart);

    /// <summary>The value and property-name tokens of <paramref name="json"/>, or null when it does not parse.</summary>
    static List<Token>? Tokens(byte[] json)
    {
        var tokens = new List<Token>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions
        {
            AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256,
        });
        var open = new Stack<(int Start, JsonTokenType Type, int MemberStart)>();
        int pendingName = -1;
        try
        {
            while (reader.Read())
            {
                int start = (int)reader.TokenStartIndex;
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        int nameEnd = start + reader.ValueSpan.Length + 2;
                        tokens.Add(new Token(start, nameEnd, reader.TokenType, true, start));
                        pendingName = start;
                        break;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        open.Push((start, reader.TokenType, pendingName));
                        pendingName = -1;
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        var (s, type, member) = open.Pop();
                        tokens.Add(new Token(s, (int)reader.BytesConsumed, type, false, member));
                        break;
                    case JsonTokenType.String:
                        tokens.Add(new Token(start, start + reader.ValueSpan.Length + 2, reader.TokenType, false, pendingName));
                        pendingName = -1;
                        break;
                    default:
                        tokens.Add(new Token(start, start + reader.ValueSpan.Length, reader.TokenType, false, pendingName));
                        pendingName = -1;
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return tokens;
    }

    /// <summary>1–3 stacked JSON-aware mutations (a byte-level one now and then); falls back to bytes when the text does not parse.</summary>
    public static byte[] Json(Random r, byte[] seed)
    {
        byte[] b = seed;
        int ops = 1 + r.Next(3);
        for (int k = 0; k < ops; k++)
        {
            var tokens = r.Next(8) == 0 ? null : Tokens(b);
            if (tokens is null || tokens.Count == 0)
            {
                return Binary(r, b);
            }
            var t = tokens[r.Next(tokens.Count)];
            // The whole member (name and value) or array item the token belongs to.
            (int Start, int End) Member()
            {
                var value = t.IsName ? tokens.FirstOrDefault(v => !v.IsName && v.MemberStart == t.Start) : t;
                return (t.IsName ? t.Start : (t.MemberStart >= 0 ? t.MemberStart : t.Start), value == default ? t.End : value.End);
            }
            switch (r.Next(t.IsName ? 3 : 6))
            {
                case 0 when t.IsName:
                    b = Splice(b, t.Start, t.End, InterestingName(r));
                    break;
                case 1 when t.IsName:
                case 3:
                {
                    // Delete the member, with a comma after it.
                    var (start, end) = Member();
                    int after = end;
                    while (after < b.Length && b[after] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t') after++;
                    if (after < b.Length && b[after] == (byte)',') end = after + 1;
                    b = Splice(b, start, end, []);
                    break;
                }
                case 2 when t.IsName:
                case 4:
                {
                    // Repeat the member right after itself.
                    var (start, end) = Member();
                    b = Splice(b, end, end, [(byte)',', .. b[start..end]]);
                    break;
                }
                case 5:
                    b = Splice(b, t.Start, t.End, [(byte)'[', .. b[t.Start..t.End], (byte)']']);
                    break;
                default:
                    b = Splice(b, t.Start, t.End, InterestingValue(r));
                    break;
            }
        }
        return b;
    }

    static byte[] Splice(byte[] b, int start, int end, byte[] insert) => [.. b[..start], .. insert, .. b[end..]];

    // ------------------------------------------------------------------------------------------------ text lines

    /// <summary>1–3 line-level mutations (delete, repeat, swap, insert odd lines) of a text file, or a byte-level one.</summary>
    public static byte[] Lines(Random r, byte[] seed)
    {
        if (r.Next(5) == 0) return Binary(r, seed);
        var lines = new List<byte[]>();
        int at = 0;
        for (int i = 0; i <= seed.Length; i++)
        {
            if (i == seed.Length || seed[i] == (byte)'\n')
            {
                lines.Add(seed[at..i]);
                at = i + 1;
            }
        }
        int ops = 1 + r.Next(3);
        for (int k = 0; k < ops && lines.Count > 0; k++)
        {
            int p = r.Next(lines.Count);
            switch (r.Next(5))
            {
                case 0:
                    lines.RemoveAt(p);
                    break;
                case 1:
                    lines.Insert(p, lines[r.Next(lines.Count)]);
                    break;
                case 2:
                    (lines[p], lines[^1]) = (lines[^1], lines[p]);
                    break;
                case 3:
                    lines.RemoveRange(p, lines.Count - p);
                    break;
                default:
                    lines.Insert(p, r.Next(5) switch
                    {
                        0 => RandomBytes(r, 1 + r.Next(12)),
                        1 => Encoding.UTF8.GetBytes(new string('w', 1000 + r.Next(20000))),
                        2 => [],
                        3 => [0xFF, 0xFE, (byte)'x'],
                        _ => "\r"u8.ToArray(),
                    });
                    break;
            }
        }
        return [.. lines.SelectMany((l, i) => i < lines.Count - 1 ? [.. l, (byte)'\n'] : l)];
    }
}
