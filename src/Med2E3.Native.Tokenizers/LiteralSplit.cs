namespace Med2E3.Native.Tokenizers;

internal static class LiteralSplit
{
    /// <summary>
    /// Splits <paramref name="text"/> at every occurrence of a literal, keeping the literals (at each position the
    /// first literal in list order that matches wins), like Python <c>re.split("(a|b)", text)</c>: text and literal
    /// segments alternate, and the result starts and ends with a text segment, which may be empty.
    /// </summary>
    public static List<(string Text, bool IsLiteral)> Split(string text, IReadOnlyList<string> literals)
    {
        var segments = new List<(string, bool)>();
        int pos = 0;
        int i = 0;
        while (i < text.Length)
        {
            string? hit = null;
            foreach (var s in literals)
            {
                if (text.AsSpan(i).StartsWith(s, StringComparison.Ordinal))
                {
                    hit = s;
                    break;
                }
            }

            if (hit is null)
            {
                i++;
                continue;
            }

            segments.Add((text[pos..i], false));
            segments.Add((hit, true));
            i += hit.Length;
            pos = i;
        }

        segments.Add((text[pos..], false));
        return segments;
    }
}
