using System.Text;

namespace Med2E3.Native.Tokenizers;

/// <summary>
/// Python string semantics that the reference scripts rely on: <c>str.isspace</c>, <c>str.strip()</c>,
/// <c>lstrip()</c>, <c>rstrip()</c> and <c>str.split()</c> with no argument.
/// </summary>
/// <remarks>
/// .NET's <see cref="char.IsWhiteSpace(char)"/> differs from Python's isspace: Python also counts the
/// information separators U+001C..U+001F as whitespace.
/// </remarks>
public static class PyText
{
    /// <summary>True where Python's <c>str.isspace</c> is true for the single character.</summary>
    public static bool IsSpace(char c) => c switch
    {
        >= '\t' and <= '\r' => true,
        >= '\u001C' and <= '\u001F' => true,
        ' ' or '\u0085' or '\u00A0' or '\u1680' => true,
        >= '\u2000' and <= '\u200A' => true,
        '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000' => true,
        _ => false,
    };

    /// <summary>Python <c>s.strip()</c>.</summary>
    public static string Strip(string s)
    {
        int start = 0;
        int end = s.Length;
        while (start < end && IsSpace(s[start]))
        {
            start++;
        }

        while (end > start && IsSpace(s[end - 1]))
        {
            end--;
        }

        return s.Substring(start, end - start);
    }

    /// <summary>Python <c>s.lstrip()</c>.</summary>
    public static string LStrip(string s)
    {
        int start = 0;
        while (start < s.Length && IsSpace(s[start]))
        {
            start++;
        }

        return s[start..];
    }

    /// <summary>Python <c>s.rstrip()</c>.</summary>
    public static string RStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && IsSpace(s[end - 1]))
        {
            end--;
        }

        return s[..end];
    }

    /// <summary>Python <c>s.split()</c>: runs of whitespace separate words, empty words are dropped.</summary>
    public static List<string> Split(string s)
    {
        var words = new List<string>();
        var sb = new StringBuilder();
        foreach (char c in s)
        {
            if (IsSpace(c))
            {
                if (sb.Length > 0)
                {
                    words.Add(sb.ToString());
                    sb.Clear();
                }
            }
            else
            {
                sb.Append(c);
            }
        }

        if (sb.Length > 0)
        {
            words.Add(sb.ToString());
        }

        return words;
    }
}
