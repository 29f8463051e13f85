using System.Text.RegularExpressions;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>
/// The "13a" tokenizer of mteval-v13a.pl, in the form <c>evaluate</c>'s bleu metric uses by default
/// (sacrebleu's Tokenizer13a, returning the word list).
/// </summary>
/// <remarks>
/// Steps: drop "&lt;skipped&gt;", join "-\n" line breaks, newlines → spaces, unescape &amp;quot; &amp;amp;
/// &amp;lt; &amp;gt;, pad with one space, then four regex passes: isolate the symbols
/// <c>{|}~ [\]^_` space!"#$%&amp; ()*+ :;&lt;=&gt;?@ /</c>; split '.' and ',' off unless preceded by a digit; split them off
/// unless followed by a digit; split '-' after a digit. The result is split on whitespace (Python <c>str.split()</c>).
/// </remarks>
public static class Tokenizer13a
{
    private static readonly Regex Symbols = new(@"([\u007B-\u007E\u005B-\u0060\u0020-\u0026\u0028-\u002B\u003A-\u0040\u002F])",
        RegexOptions.CultureInvariant);

    private static readonly Regex PeriodCommaAfterNonDigit = new(@"([^0-9])([\.,])", RegexOptions.CultureInvariant);

    private static readonly Regex PeriodCommaBeforeNonDigit = new(@"([\.,])([^0-9])", RegexOptions.CultureInvariant);

    private static readonly Regex DashAfterDigit = new(@"([0-9])(-)", RegexOptions.CultureInvariant);

    public static List<string> Tokenize(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        line = line.Replace("<skipped>", "", StringComparison.Ordinal);
        line = line.Replace("-\n", "", StringComparison.Ordinal);
        line = line.Replace("\n", " ", StringComparison.Ordinal);
        if (line.Contains('&', StringComparison.Ordinal))
        {
            line = line.Replace("&quot;", "\"", StringComparison.Ordinal);
            line = line.Replace("&amp;", "&", StringComparison.Ordinal);
            line = line.Replace("&lt;", "<", StringComparison.Ordinal);
            line = line.Replace("&gt;", ">", StringComparison.Ordinal);
        }

        line = " " + line + " ";
        line = Symbols.Replace(line, " $1 ");
        line = PeriodCommaAfterNonDigit.Replace(line, "$1 $2 ");
        line = PeriodCommaBeforeNonDigit.Replace(line, " $1 $2");
        line = DashAfterDigit.Replace(line, "$1 $2 ");
        return PyText.Split(line);
    }
}
