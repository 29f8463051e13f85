using System.Text;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>Precision, recall and F-measure of one ROUGE comparison.</summary>
public readonly record struct RougeScore(double Precision, double Recall, double F);

/// <summary>
/// ROUGE-N and ROUGE-L as Google's <c>rouge_score</c> computes them (what <c>evaluate.load("rouge")</c> runs): no
/// stemming, the default tokenizer, and for a single prediction/reference pair the aggregate equals the pair's score.
/// </summary>
/// <remarks>
/// Tokenizer: Python <c>text.lower()</c>, every run of characters outside [a-z0-9] → one space, split on whitespace.
/// Only ASCII letters and digits survive; the two non-ASCII characters whose Python lower case contains an ASCII
/// letter are handled as Python does (U+0130 → "i" + U+0307, U+212A KELVIN SIGN → "k").
/// F = 2·P·R / (P + R), 0 when P + R = 0.
/// </remarks>
public static class Rouge
{
    public static List<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<string>();
        var word = new StringBuilder();
        void End()
        {
            if (word.Length > 0)
            {
                tokens.Add(word.ToString());
                word.Clear();
            }
        }

        foreach (char c in text)
        {
            if (c is >= 'a' and <= 'z' or >= '0' and <= '9')
            {
                word.Append(c);
            }
            else if (c is >= 'A' and <= 'Z')
            {
                word.Append((char)(c + ('a' - 'A')));
            }
            else if (c == '\u0130')
            {
                // "İ".lower() is "i" followed by U+0307, which is not alphanumeric: the word ends after the i.
                word.Append('i');
                End();
            }
            else if (c == '\u212A')
            {
                word.Append('k');
            }
            else
            {
                End();
            }
        }

        End();
        return tokens;
    }

    /// <summary>ROUGE-N: clipped n-gram overlap; P = overlap / max(#prediction n-grams, 1), R likewise.</summary>
    public static RougeScore RougeN(string prediction, string reference, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var target = NGrams(Tokenize(reference), n);
        var predicted = NGrams(Tokenize(prediction), n);
        int overlap = 0;
        foreach (var (ngram, count) in target)
        {
            overlap += Math.Min(count, predicted.GetValueOrDefault(ngram));
        }

        double precision = (double)overlap / Math.Max(predicted.Values.Sum(), 1);
        double recall = (double)overlap / Math.Max(target.Values.Sum(), 1);
        return new RougeScore(precision, recall, FMeasure(precision, recall));
    }

    /// <summary>ROUGE-L: longest common subsequence of the token lists; P = LCS / |prediction|, R = LCS / |reference|,
    /// all 0 when either is empty.</summary>
    public static RougeScore RougeL(string prediction, string reference)
    {
        var target = Tokenize(reference);
        var predicted = Tokenize(prediction);
        if (target.Count == 0 || predicted.Count == 0)
        {
            return new RougeScore(0, 0, 0);
        }

        int lcs = LcsLength(target, predicted);
        double precision = (double)lcs / predicted.Count;
        double recall = (double)lcs / target.Count;
        return new RougeScore(precision, recall, FMeasure(precision, recall));
    }

    private static double FMeasure(double precision, double recall) =>
        precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;

    private static int LcsLength(List<string> a, List<string> b)
    {
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
            {
                current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Count];
    }

    private static Dictionary<string, int> NGrams(List<string> tokens, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= tokens.Count; i++)
        {
            // Tokens are [a-z0-9]+, so a space separator is unambiguous.
            string key = string.Join(' ', tokens.GetRange(i, n));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        return counts;
    }
}
