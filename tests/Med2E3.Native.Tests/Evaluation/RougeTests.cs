using Med2E3.Native.Models.Evaluation;

namespace Med2E3.Native.Tests.Evaluation;

public class RougeTests
{
    private const double Tol = 1e-12;

    [Theory]
    [InlineData("The CAT, sat-on 3.5mm!", new[] { "the", "cat", "sat", "on", "3", "5mm" })]
    // Non-ASCII letters are separators ("café" → "caf"); İ lower-cases to "i" + U+0307, KELVIN SIGN to "k".
    [InlineData("café İstanbul \u212Aelvin", new[] { "caf", "i", "stanbul", "kelvin" })]
    [InlineData("  ... ", new string[0])]
    public void TokenizesLikeRougeScore(string text, string[] expected) => Assert.Equal(expected, Rouge.Tokenize(text));

    [Fact]
    public void Rouge1CountsClippedUnigramOverlap()
    {
        // ref [the cat is on the mat], pred [the cat sat on the mat]: overlap the×2, cat, on, mat = 5;
        // P = 5/6, R = 5/6, F = 5/6.
        var s = Rouge.RougeN("the cat sat on the mat", "the cat is on the mat", 1);
        Assert.Equal((5.0 / 6.0, 5.0 / 6.0, 5.0 / 6.0), (s.Precision, s.Recall, s.F), TupleComparer);
    }

    [Fact]
    public void Rouge2()
    {
        // pred bigrams {the cat, cat sat}, ref {the cat, cat is, is here}: overlap 1 → P = 1/2, R = 1/3,
        // F = 2·(1/2)(1/3) / (5/6) = 2/5.
        var s = Rouge.RougeN("the cat sat", "the cat is here", 2);
        Assert.Equal(0.5, s.Precision, Tol);
        Assert.Equal(1.0 / 3.0, s.Recall, Tol);
        Assert.Equal(0.4, s.F, Tol);
    }

    [Fact]
    public void RougeLUsesTheLongestCommonSubsequence()
    {
        // Same words, scrambled: ROUGE-1 is perfect, but the longest common subsequence of
        // [mat the on cat the] and [the cat on the mat] is 3 ("the on the") → P = R = F = 3/5.
        Assert.Equal(1.0, Rouge.RougeN("mat the on cat the", "the cat on the mat", 1).F, Tol);
        Assert.Equal(0.6, Rouge.RougeL("mat the on cat the", "the cat on the mat").F, Tol);
        // [the cat] in [the big cat sat]: LCS 2 → P = 1, R = 1/2, F = 2·1·(1/2) / (3/2) = 2/3.
        var s = Rouge.RougeL("the cat", "the big cat sat");
        Assert.Equal((1.0, 0.5, 2.0 / 3.0), (s.Precision, s.Recall, s.F), TupleComparer);
    }

    [Fact]
    public void EmptyTokenListsScoreZero()
    {
        Assert.Equal(new RougeScore(0, 0, 0), Rouge.RougeL("", "the cat"));
        Assert.Equal(new RougeScore(0, 0, 0), Rouge.RougeL("the cat", "!!"));
        Assert.Equal(0.0, Rouge.RougeN("", "the cat", 1).F);
    }

    private static readonly IEqualityComparer<(double, double, double)> TupleComparer =
        EqualityComparer<(double, double, double)>.Create((a, b) =>
            Math.Abs(a.Item1 - b.Item1) < Tol && Math.Abs(a.Item2 - b.Item2) < Tol && Math.Abs(a.Item3 - b.Item3) < Tol);
}
