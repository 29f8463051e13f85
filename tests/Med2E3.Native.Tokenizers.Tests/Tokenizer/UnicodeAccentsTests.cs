using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Tokenizer;

public class UnicodeAccentsTests
{
    [Theory]
    [InlineData("Ménétrier naïve", "Menetrier naive")]
    [InlineData("ÅåǺ", "AaA")]              // Ǻ = A + ring + acute, two marks removed
    [InlineData("\u212B", "A")]              // ANGSTROM SIGN → A + ring above
    [InlineData("\u2126", "\u03A9")]         // OHM SIGN → GREEK CAPITAL OMEGA (singleton decomposition)
    [InlineData("\u0130", "I")]              // İ → I + dot above
    [InlineData("ﬁ ½", "ﬁ ½")]              // compatibility decompositions are not canonical: unchanged
    [InlineData("e\u0301\u0300", "e")]       // combining marks alone are removed
    [InlineData("\uF900", "\u8C48")]         // CJK compatibility ideograph → unified ideograph
    [InlineData("한글", "\u1112\u1161\u11AB\u1100\u1173\u11AF")] // Hangul syllables → jamo (with trailing consonant)
    [InlineData("가", "\u1100\u1161")]       // no trailing consonant
    [InlineData("🙂 ok", "🙂 ok")]
    public void StripMatchesNfdWithoutNonSpacingMarks(string input, string expected) =>
        Assert.Equal(expected, UnicodeAccents.Strip(input));
}
