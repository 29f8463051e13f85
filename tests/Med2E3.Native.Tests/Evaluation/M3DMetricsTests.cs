using Med2E3.Native.Models.Evaluation;

namespace Med2E3.Native.Tests.Evaluation;

public class M3DMetricsTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void TextScoresStripThenScore()
    {
        // After strip: pred [the cat sat on the mat] (6), ref [the cat sat on the red mat] (7).
        // BLEU-1 = 1 · exp(1 − 7/6); BLEU-4 = 0.4^(1/4) · exp(−1/6) (see BleuTests);
        // ROUGE-1: overlap 6 → P = 1, R = 6/7, F = 2·(6/7) / (13/7) = 12/13; ROUGE-L: LCS 6 → also 12/13.
        var s = M3DMetrics.ScoreText("  the cat sat on the mat \n", "the cat sat on the red mat\t");
        Assert.Equal(Math.Exp(-1.0 / 6.0), s.Bleu1, Tol);
        Assert.Equal(Math.Pow(0.4, 0.25) * Math.Exp(-1.0 / 6.0), s.Bleu4, Tol);
        Assert.Equal(12.0 / 13.0, s.Rouge1, Tol);
        Assert.Equal(12.0 / 13.0, s.RougeL, Tol);
    }

    [Fact]
    public void EmptyOutputScoresZero()
    {
        Assert.Equal(new TextScores(0, 0, 0, 0), M3DMetrics.ScoreText(" \n\t", "the cat"));
        Assert.Equal(new TextScores(0, 0, 0, 0), M3DMetrics.ScoreText("", "the cat"));
    }

    [Theory]
    [InlineData("The answer is B. Liver", "B", true)]
    [InlineData(" C.\n", "C", true)]
    [InlineData("B", "B", false)]      // no period
    [InlineData("b. liver", "B", false)] // case-sensitive
    [InlineData("A. or B.", "B", true)]
    public void ClosedVqaLooksForTheLetterAndAPeriod(string output, string choice, bool correct) =>
        Assert.Equal(correct, M3DMetrics.IsClosedCorrect(output, choice));

    [Fact]
    public void SummaryIsPerTypeThenMeanOfTypesThenOverall()
    {
        // type 1: (1 + 0)/2 = 1/2; type 2: (0 + 0 + 1)/3 = 1/3; type 10: 1/1 = 1.
        // mean over types = (1/2 + 1/3 + 1)/3 = 11/18; overall = 3/6 = 1/2. Integer types sort numerically.
        var s = M3DMetrics.Summarize([("1", 1), ("10", 1), ("2", 0), ("1", 0), ("2", 0), ("2", 1)]);
        Assert.Equal(["1", "2", "10"], s.PerType.Select(t => t.QuestionType));
        Assert.Equal([0.5, 1.0 / 3.0, 1.0], s.PerType.Select(t => t.Mean));
        Assert.Equal([2, 3, 1], s.PerType.Select(t => t.Count));
        Assert.Equal(11.0 / 18.0, s.MeanOverTypes, Tol);
        Assert.Equal(0.5, s.Overall, Tol);
        Assert.Equal(6, s.Count);

        var named = M3DMetrics.Summarize([("b", 1), ("a", 0), ("B", 1)]);
        Assert.Equal(["B", "a", "b"], named.PerType.Select(t => t.QuestionType));
        Assert.Throws<ArgumentException>(() => M3DMetrics.Summarize([]));
    }
}
