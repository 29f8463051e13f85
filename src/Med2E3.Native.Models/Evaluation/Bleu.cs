namespace Med2E3.Native.Models.Evaluation;

/// <summary>A BLEU result with the parts <c>evaluate</c>'s bleu metric reports.</summary>
/// <param name="Score">Geometric mean of the n-gram precisions times the brevity penalty.</param>
/// <param name="Precisions">Clipped n-gram precision for n = 1 … max order.</param>
/// <param name="BrevityPenalty">1 if the output is longer than the reference, else exp(1 − ref/out).</param>
/// <param name="LengthRatio">Output length / reference length (in 13a tokens).</param>
/// <param name="TranslationLength">Total output tokens.</param>
/// <param name="ReferenceLength">Total reference tokens (the shortest reference of each sample).</param>
public sealed record BleuScore(double Score, double[] Precisions, double BrevityPenalty, double LengthRatio,
    int TranslationLength, int ReferenceLength);

/// <summary>
/// BLEU exactly as <c>evaluate.load("bleu")</c> computes it (the TensorFlow NMT <c>compute_bleu</c> over
/// <see cref="Tokenizer13a"/> tokens): corpus-level counts, clipped n-gram matches against the per-n-gram maximum over
/// the references, reference length = the shortest reference per sample, no smoothing by default.
/// </summary>
/// <remarks>
/// The official M3D scripts call it once per sample with <c>max_order = 1</c> (BLEU-1). With no output tokens or no
/// reference tokens the ratio, brevity penalty and score are 0 (current evaluate; older versions divided by zero).
/// </remarks>
public static class Bleu
{
    /// <summary>Corpus BLEU of predictions against one reference each.</summary>
    public static BleuScore Compute(IReadOnlyList<string> predictions, IReadOnlyList<string> references,
        int maxOrder = 4, bool smooth = false)
    {
        ArgumentNullException.ThrowIfNull(references);
        return Compute(predictions, [.. references.Select(r => (IReadOnlyList<string>)[r])], maxOrder, smooth);
    }

    /// <summary>Sentence BLEU of one prediction against one reference (a corpus of one).</summary>
    public static BleuScore Sentence(string prediction, string reference, int maxOrder = 4, bool smooth = false) =>
        Compute([prediction], [reference], maxOrder, smooth);

    /// <summary>Corpus BLEU of predictions against one or more references each.</summary>
    public static BleuScore Compute(IReadOnlyList<string> predictions, IReadOnlyList<IReadOnlyList<string>> references,
        int maxOrder = 4, bool smooth = false)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOrder, 1);
        if (predictions.Count != references.Count)
        {
            throw new ArgumentException($"{predictions.Count} predictions but {references.Count} reference lists");
        }

        var matches = new long[maxOrder];
        var possible = new long[maxOrder];
        int referenceLength = 0;
        int translationLength = 0;
        for (int s = 0; s < predictions.Count; s++)
        {
            if (references[s].Count == 0)
            {
                throw new ArgumentException($"sample {s} has no reference");
            }

            var refs = references[s].Select(Tokenizer13a.Tokenize).ToList();
            var translation = Tokenizer13a.Tokenize(predictions[s]);
            referenceLength += refs.Min(r => r.Count);
            translationLength += translation.Count;

            var merged = new Dictionary<(int Order, string Key), int>();
            foreach (var r in refs)
            {
                foreach (var (ngram, count) in NGrams(r, maxOrder))
                {
                    merged[ngram] = Math.Max(count, merged.GetValueOrDefault(ngram));
                }
            }

            foreach (var (ngram, count) in NGrams(translation, maxOrder))
            {
                matches[ngram.Order - 1] += Math.Min(count, merged.GetValueOrDefault(ngram));
            }

            for (int order = 1; order <= maxOrder; order++)
            {
                int p = translation.Count - order + 1;
                if (p > 0)
                {
                    possible[order - 1] += p;
                }
            }
        }

        var precisions = new double[maxOrder];
        for (int i = 0; i < maxOrder; i++)
        {
            if (smooth)
            {
                precisions[i] = (matches[i] + 1.0) / (possible[i] + 1.0);
            }
            else
            {
                precisions[i] = possible[i] > 0 ? (double)matches[i] / possible[i] : 0.0;
            }
        }

        double geoMean = 0;
        if (precisions.Min() > 0)
        {
            double logSum = 0;
            foreach (double p in precisions)
            {
                logSum += 1.0 / maxOrder * Math.Log(p);
            }

            geoMean = Math.Exp(logSum);
        }

        if (translationLength == 0 || referenceLength == 0)
        {
            return new BleuScore(0.0, precisions, 0.0, 0.0, translationLength, referenceLength);
        }

        double ratio = (double)translationLength / referenceLength;
        double bp = ratio > 1.0 ? 1.0 : Math.Exp(1 - 1.0 / ratio);
        return new BleuScore(geoMean * bp, precisions, bp, ratio, translationLength, referenceLength);
    }

    // All n-grams of order 1..maxOrder with their counts. The key spells each token as "length:text", so that no two
    // different token sequences share a key whatever characters the tokens hold.
    private static Dictionary<(int Order, string Key), int> NGrams(List<string> tokens, int maxOrder)
    {
        var counts = new Dictionary<(int, string), int>();
        for (int order = 1; order <= maxOrder; order++)
        {
            for (int i = 0; i + order <= tokens.Count; i++)
            {
                var key = (order, string.Concat(tokens.Skip(i).Take(order).Select(t => $"{t.Length}:{t}")));
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }

        return counts;
    }
}
