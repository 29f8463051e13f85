using Med2E3.Native.Models.Evaluation;

namespace Med2E3.Native.Tests.Evaluation;

public class BleuTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Bleu1IsClippedUnigramPrecisionTimesBrevityPenalty()
    {
        // pred  [the cat sat on the mat], ref [the cat is on the mat]: 6 tokens each.
        // unigram matches: the×2, cat, on, mat = 5 of 6 → p1 = 5/6; ratio 6/6 = 1 → bp = exp(1 − 1/1) = 1.
        var s = Bleu.Sentence("the cat sat on the mat", "the cat is on the mat", maxOrder: 1);
        Assert.Equal(5.0 / 6.0, s.Score, Tol);
        Assert.Equal(5.0 / 6.0, s.Precisions[0], Tol);
        Assert.Equal(1.0, s.BrevityPenalty);
        Assert.Equal((6, 6), (s.TranslationLength, s.ReferenceLength));
    }

    [Fact]
    public void Bleu4IsZeroWhenNoFourGramMatches()
    {
        // Same pair: p2 = 3/5 (the-cat, on-the, the-mat), p3 = 1/4 (on-the-mat), p4 = 0/3 → geometric mean 0.
        var s = Bleu.Sentence("the cat sat on the mat", "the cat is on the mat");
        Assert.Equal([5.0 / 6.0, 3.0 / 5.0, 1.0 / 4.0, 0.0], s.Precisions, (a, b) => Math.Abs(a - b) < Tol);
        Assert.Equal(0.0, s.Score);
    }

    [Fact]
    public void Bleu4WithBrevityPenalty()
    {
        // pred [the cat sat on the mat] (6), ref [the cat sat on the red mat] (7).
        // p1 = 6/6, p2 = 4/5 (all but the-mat), p3 = 3/4 (all but on-the-mat), p4 = 2/3 (the-cat-sat-on, cat-sat-on-the).
        // product = 1·0.8·0.75·(2/3) = 0.4 → geometric mean 0.4^(1/4); bp = exp(1 − 7/6) = exp(−1/6).
        var s = Bleu.Sentence("the cat sat on the mat", "the cat sat on the red mat");
        Assert.Equal(Math.Pow(0.4, 0.25) * Math.Exp(-1.0 / 6.0), s.Score, Tol);
        Assert.Equal(Math.Exp(-1.0 / 6.0), s.BrevityPenalty, Tol);
        Assert.Equal(6.0 / 7.0, s.LengthRatio, Tol);
        // BLEU-1 of the same pair: p1 = 1, so the score is the brevity penalty alone.
        Assert.Equal(Math.Exp(-1.0 / 6.0), Bleu.Sentence("the cat sat on the mat", "the cat sat on the red mat", 1).Score, Tol);
    }

    [Fact]
    public void CorpusBleuPoolsCountsBeforeDividing()
    {
        // Both pairs above as one corpus, BLEU-1: matches 5 + 6 = 11 of 6 + 6 = 12; lengths 12 vs 6 + 7 = 13
        // → bp = exp(1 − 13/12) = exp(−1/12).
        var s = Bleu.Compute(["the cat sat on the mat", "the cat sat on the mat"],
            ["the cat is on the mat", "the cat sat on the red mat"], maxOrder: 1);
        Assert.Equal(11.0 / 12.0 * Math.Exp(-1.0 / 12.0), s.Score, Tol);
    }

    [Fact]
    public void MatchesAreClippedByTheReferenceCount()
    {
        // "the" ×4 against one "the": 1 match of 4 → 0.25; ratio 4/2 > 1 → bp = 1.
        Assert.Equal(0.25, Bleu.Sentence("the the the the", "the cat", 1).Score, Tol);
    }

    [Fact]
    public void MultipleReferencesUseMaxCountsAndTheShortestLength()
    {
        // refs "a cat" (2) and "the dog sat" (3): merged unigrams include "the" and "cat" → p1 = 2/2;
        // reference length = min(2, 3) = 2 = output length → bp = 1.
        var s = Bleu.Compute(["the cat"], [(IReadOnlyList<string>)["a cat", "the dog sat"]], maxOrder: 1);
        Assert.Equal(1.0, s.Score, Tol);
        Assert.Equal(2, s.ReferenceLength);
    }

    [Fact]
    public void SmoothingAddsOneToEveryOrder()
    {
        // (5+1)/(6+1) · (3+1)/(5+1) · (1+1)/(4+1) · (0+1)/(3+1) = 6/7 · 2/3 · 2/5 · 1/4 = 2/35; bp = 1.
        var s = Bleu.Sentence("the cat sat on the mat", "the cat is on the mat", smooth: true);
        Assert.Equal(Math.Pow(2.0 / 35.0, 0.25), s.Score, Tol);
    }

    [Fact]
    public void TokenizationIsCaseSensitiveAndSplitsPunctuation()
    {
        // pred [The, cat, .] vs ref [the, cat]: only "cat" matches → p1 = 1/3; ratio 3/2 → bp 1.
        Assert.Equal(1.0 / 3.0, Bleu.Sentence("The cat.", "the cat", 1).Score, Tol);
    }

    [Fact]
    public void EmptySidesScoreZero()
    {
        Assert.Equal(0.0, Bleu.Sentence("", "the cat", 1).Score);
        Assert.Equal(0.0, Bleu.Sentence("the cat", "", 1).Score);
        Assert.Throws<ArgumentException>(() => Bleu.Compute(["a"], ["a", "b"]));
    }
}
