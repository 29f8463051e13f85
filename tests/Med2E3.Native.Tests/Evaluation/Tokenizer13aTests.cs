using Med2E3.Native.Models.Evaluation;

namespace Med2E3.Native.Tests.Evaluation;

public class Tokenizer13aTests
{
    [Theory]
    // ',' and '.' after a letter are split off; they are not in the symbol class themselves.
    [InlineData("Hello, world.", new[] { "Hello", ",", "world", "." })]
    // Between digits '.' and ',' stay inside the number.
    [InlineData("3.14 and 1,000", new[] { "3.14", "and", "1,000" })]
    // '.' after a digit but before the end (the padding space) is split by the "followed by a non-digit" rule.
    [InlineData("5.", new[] { "5", "." })]
    // '-' is split only after a digit.
    [InlineData("L4-L5 non-obstructing", new[] { "L4", "-", "L5", "non-obstructing" })]
    // Brackets, '/', '&' are symbols; the apostrophe is not.
    [InlineData("(4 mm) a/b it's", new[] { "(", "4", "mm", ")", "a", "/", "b", "it's" })]
    [InlineData("a &amp; b &lt;c&gt;", new[] { "a", "&", "b", "<", "c", ">" })]
    // "-\n" joins lines, other newlines are spaces, "<skipped>" vanishes.
    [InlineData("end.\nNext-\nline x<skipped>y", new[] { "end", ".", "Nextline", "xy" })]
    [InlineData("", new string[0])]
    // U+001F is whitespace for Python's str.split (not for .NET's char.IsWhiteSpace).
    [InlineData("a\u001Fb", new[] { "a", "b" })]
    public void TokenizesAsSacrebleu13a(string line, string[] expected) =>
        Assert.Equal(expected, Tokenizer13a.Tokenize(line));
}
