using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Med2E3.Native.Formats.Files;

/// <summary>
/// How values read from a file appear in error messages: quoted, on one line (control characters and unpaired
/// surrogates escaped as \uXXXX) and at most <see cref="MaxQuoted"/> characters long, so a 16 MiB string in a config
/// cannot become a 16 MiB line on stderr.
/// </summary>
public static class InputText
{
    /// <summary>Most characters of one input value a message quotes.</summary>
    public const int MaxQuoted = 200;

    /// <summary><paramref name="value"/> in single quotes, escaped and cut to <see cref="MaxQuoted"/> characters.</summary>
    public static string Quote(string? value) => value is null ? "null" : "'" + Bounded(value) + "'";

    /// <summary>The value escaped and cut as <see cref="Quote(string?)"/> does, without the quotes.</summary>
    public static string Bounded(string value) =>
        Bounded(value, value.Length.ToString(CultureInfo.InvariantCulture) + " characters");

    private static string Bounded(string value, string fullLength)
    {
        var sb = new StringBuilder(Math.Min(value.Length, MaxQuoted) + 16);
        int i = 0;
        for (; i < value.Length && sb.Length < MaxQuoted; i++)
        {
            char c = value[i];
            bool pair = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]);
            if (pair)
            {
                sb.Append(c).Append(value[++i]);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
            {
                sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        if (i < value.Length)
        {
            sb.Append("… (").Append(fullLength).Append(')');
        }
        return sb.ToString();
    }

    /// <summary>
    /// UTF-8 bytes from a file, quoted as <see cref="Quote(string?)"/> does; invalid sequences become U+FFFD. Only the first
    /// bytes are decoded, whatever the length of <paramref name="utf8"/>.
    /// </summary>
    public static string Quote(ReadOnlySpan<byte> utf8)
    {
        const int look = 4 * MaxQuoted;
        string head = Encoding.UTF8.GetString(utf8[..Math.Min(utf8.Length, look)]);
        return "'" + Bounded(head, utf8.Length.ToString(CultureInfo.InvariantCulture) + " bytes") + "'";
    }

    /// <summary>
    /// A JSON value as written in the file (e.g. <c>1e400</c>, <c>"abc"</c>), arrays and objects on one line
    /// (<c>[1, 2]</c>), bounded as <see cref="Quote(string?)"/> does.
    /// </summary>
    public static string Json(JsonElement e)
    {
        if (e.ValueKind is not (JsonValueKind.Array or JsonValueKind.Object))
        {
            return Quote(JsonMarshal.GetRawUtf8Value(e))[1..^1];
        }
        var sb = new StringBuilder();
        Compact(e, sb);
        return Bounded(sb.ToString());
    }

    // Writes a value on one line, stopping once more than MaxQuoted characters are written.
    private static void Compact(JsonElement e, StringBuilder sb)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Array:
                sb.Append('[');
                foreach (JsonElement item in e.EnumerateArray())
                {
                    if (sb.Length > MaxQuoted) break;
                    if (sb[^1] != '[') sb.Append(", ");
                    Compact(item, sb);
                }
                sb.Append(']');
                break;
            case JsonValueKind.Object:
                sb.Append('{');
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    if (sb.Length > MaxQuoted) break;
                    if (sb[^1] != '{') sb.Append(", ");
                    sb.Append('"').Append(Quote(JsonMarshal.GetRawUtf8PropertyName(p))[1..^1]).Append("\": ");
                    Compact(p.Value, sb);
                }
                sb.Append('}');
                break;
            default:
                sb.Append(Quote(JsonMarshal.GetRawUtf8Value(e))[1..^1]);
                break;
        }
    }

    /// <summary>The first line of a message, trimmed.</summary>
    public static string OneLine(string message)
    {
        int nl = message.IndexOfAny(['\r', '\n']);
        return (nl < 0 ? message : message[..nl]).Trim();
    }
}
