using System.Text;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>Compares ids string by string and fails with the first differences spelled out.</summary>
internal static class Parity
{
    /// <summary>Asserts that <paramref name="actual"/> gives <paramref name="expected"/> for every string.</summary>
    public static void AssertAll(string oracle, (string Kind, string Text)[] strings, IReadOnlyList<int[]> expected,
        Func<string, int[]> actual)
    {
        Assert.Equal(strings.Length, expected.Count);
        var report = new StringBuilder();
        int mismatches = Count(strings, expected, actual, report);
        Assert.True(mismatches == 0, $"{oracle}: {mismatches} of {strings.Length} strings differ\n{report}");
    }

    /// <summary>Number of strings where <paramref name="actual"/> differs; the first few are described in <paramref name="report"/>.</summary>
    public static int Count((string Kind, string Text)[] strings, IReadOnlyList<int[]> expected,
        Func<string, int[]> actual, StringBuilder? report = null)
    {
        int mismatches = 0;
        for (int i = 0; i < strings.Length; i++)
        {
            int[] got = actual(strings[i].Text);
            if (got.AsSpan().SequenceEqual(expected[i]))
            {
                continue;
            }

            if (++mismatches <= 10 && report is not null)
            {
                report.AppendLine($"  [{strings[i].Kind}] {Escape(strings[i].Text)}");
                report.AppendLine($"    expected [{string.Join(' ', expected[i])}]");
                report.AppendLine($"    actual   [{string.Join(' ', got)}]");
            }
        }

        return mismatches;
    }

    public static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s.Length > 120 ? s[..120] + "…" : s)
        {
            sb.Append(c < ' ' || c == '"' || c == '\\' ? $"\\u{(int)c:X4}" : c.ToString());
        }

        return sb.Append('"').ToString();
    }
}
