using System.Globalization;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>Text scores of one generated answer against its reference (all 0 for an empty answer).</summary>
/// <param name="Bleu1">evaluate's bleu with max_order = 1 (the official M3D "BLEU").</param>
/// <param name="Bleu4">evaluate's bleu with its default max_order = 4, sentence level.</param>
/// <param name="Rouge1">ROUGE-1 F (the official M3D "ROUGE-1").</param>
/// <param name="RougeL">ROUGE-L F.</param>
public sealed record TextScores(double Bleu1, double Bleu4, double Rouge1, double RougeL);

/// <summary>Mean of one question type.</summary>
public readonly record struct TypeMean(string QuestionType, double Mean, int Count);

/// <summary>A metric reported as the official scripts print it: per question type (sorted), the mean over types,
/// and the mean over all samples.</summary>
public sealed record MetricSummary(IReadOnlyList<TypeMean> PerType, double MeanOverTypes, double Overall, int Count);

/// <summary>
/// The official Med-2E3 / M3D scoring (scripts/eval/utils/convert_output_to_m3d_*.py, spec §11).
/// </summary>
/// <remarks>
/// Caption and open VQA: output and reference are stripped (Python <c>str.strip()</c>); an empty output scores 0 on
/// every metric; otherwise BLEU-1, ROUGE-1 F (and here also BLEU-4 and ROUGE-L F) per sample, averaged.
/// Closed VQA: correct iff "<c>choice</c>." occurs in the stripped output. METEOR and BERTScore, which the official
/// scripts also print, are not computed.
/// </remarks>
public static class M3DMetrics
{
    /// <summary>Per-sample text scores as the official caption / open-VQA scripts compute them.</summary>
    public static TextScores ScoreText(string output, string reference)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(reference);
        string o = PyText.Strip(output);
        if (o.Length == 0)
        {
            return new TextScores(0, 0, 0, 0);
        }

        string r = PyText.Strip(reference);
        return new TextScores(
            Bleu.Sentence(o, r, maxOrder: 1).Score,
            Bleu.Sentence(o, r, maxOrder: 4).Score,
            Rouge.RougeN(o, r, 1).F,
            Rouge.RougeL(o, r).F);
    }

    /// <summary>Closed VQA: the stripped output contains the answer letter followed by a period ("B.").</summary>
    public static bool IsClosedCorrect(string output, string answerChoice)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(answerChoice);
        return PyText.Strip(output).Contains(answerChoice + ".", StringComparison.Ordinal);
    }

    /// <summary>
    /// Per-type means (types sorted: numerically when every type is an integer, else ordinally), their mean, and the
    /// overall mean, summed in input order as the official scripts do.
    /// </summary>
    public static MetricSummary Summarize(IReadOnlyList<(string QuestionType, double Score)> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
        {
            throw new ArgumentException("no samples to summarize", nameof(samples));
        }

        var types = samples.Select(s => s.QuestionType).Distinct().ToList();
        bool numeric = types.All(t => long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
        types.Sort(numeric
            ? (a, b) => long.Parse(a, CultureInfo.InvariantCulture).CompareTo(long.Parse(b, CultureInfo.InvariantCulture))
            : string.CompareOrdinal);

        var perType = new List<TypeMean>();
        double sumOfMeans = 0;
        foreach (var type in types)
        {
            double sum = 0;
            int n = 0;
            foreach (var s in samples)
            {
                if (s.QuestionType == type)
                {
                    sum += s.Score;
                    n++;
                }
            }

            perType.Add(new TypeMean(type, sum / n, n));
            sumOfMeans += sum / n;
        }

        double total = 0;
        foreach (var s in samples)
        {
            total += s.Score;
        }

        return new MetricSummary(perType, sumOfMeans / perType.Count, total / samples.Count, samples.Count);
    }
}
