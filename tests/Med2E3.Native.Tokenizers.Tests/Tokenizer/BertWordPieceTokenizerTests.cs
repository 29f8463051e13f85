using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Tokenizer;

public class BertWordPieceTokenizerTests
{
    private static readonly Lazy<BertWordPieceTokenizer> Shared =
        new(() => BertWordPieceTokenizer.Load(TinyFixture.BertVocab));

    private static BertWordPieceTokenizer Tok => Shared.Value;

    public static TheoryData<string> FixtureStrings => new(TinyFixture.TestStrings);

    [Theory]
    [MemberData(nameof(FixtureStrings))]
    public void EncodeMatchesReference(string text)
    {
        var e = Tok.Encode(text, maxLength: 24);
        Assert.Equal(TinyFixture.Ids("bert", text), e.Ids);
        Assert.Equal(TinyFixture.Ids("bert_mask", text), e.Mask);
    }

    [Fact]
    public void QuestionMatchesGoldenTensor()
    {
        var e = Tok.Encode(TinyFixture.Meta.GetProperty("question").GetString()!, maxLength: 24);
        Assert.Equal(TinyFixture.GoldenInt64("input.questions").Select(x => (int)x), e.Ids);
        Assert.Equal(TinyFixture.GoldenInt64("input.questions_mask").Select(x => (int)x), e.Mask);
    }

    [Fact]
    public void SpecialIds()
    {
        Assert.Equal((0, 1, 2, 3, 4), (Tok.PadTokenId, Tok.UnknownTokenId, Tok.ClsTokenId, Tok.SepTokenId, Tok.MaskTokenId));
        Assert.Equal(File.ReadAllLines(TinyFixture.BertVocab).Length, Tok.VocabSize);
    }

    [Fact]
    public void AccentsAreStrippedBeforeLookup()
    {
        // "Ménétrier" → "menetrier" → men ##etrier; "café" → cafe. Needs NFD, which .NET does not do in invariant mode.
        Assert.Equal(["men", "##etrier", "cafe"], Tok.Tokenize("Ménétrier café"));
        // Decomposed input (e + U+0301) gives the same.
        Assert.Equal(["cafe"], Tok.Tokenize("cafe\u0301"));
    }

    [Fact]
    public void EmojiAndCjkAreWordsOfTheirOwn()
    {
        // 🙂 is one code point (a surrogate pair in UTF-16) of category So: kept, not in the vocabulary → [UNK].
        // Each CJK ideograph is its own word, even when glued to others.
        Assert.Equal(["[UNK]", "and", "[UNK]", "[UNK]"], Tok.Tokenize("🙂 and 中文"));
        Assert.Equal(["a", "[UNK]", "b"], Tok.Tokenize("a中b"));
    }

    [Fact]
    public void PunctuationAndControlCharacters()
    {
        // '<' and '|' are punctuation words not in the vocabulary → [UNK] each; NUL, U+FFFD and BEL vanish;
        // tab and newline separate words.
        Assert.Equal(["[UNK]", "[UNK]", "en", "##d"], Tok.Tokenize("<|en\u0000d"));
        Assert.Equal(["the", "is"], Tok.Tokenize("the\u0007\uFFFD\tis"));
        Assert.Equal(["the", "is"], Tok.Tokenize("th\u200Be is"));
        // '$' and '`' are ASCII punctuation for BERT although Unicode calls them symbols.
        Assert.Equal(["[UNK]", "is", "[UNK]"], Tok.Tokenize("$is`"));
    }

    [Fact]
    public void SpecialTokensInTheTextAreKeptWhole()
    {
        Assert.Equal([2, 77, 4, 3], Tok.Encode("is [MASK]", maxLength: 4).Ids);
        // Lower-case spelling is ordinary text: '[' mask ']'.
        Assert.Equal(["[UNK]", "mas", "##k", "[UNK]"], Tok.Tokenize("[mask]"));
    }

    [Fact]
    public void LongWordsBecomeUnknown()
    {
        // 100 letters are looked up ("a" then 99 × "##a"); 101 letters are one [UNK].
        Assert.Equal(100, Tok.Tokenize(new string('a', 100)).Count);
        Assert.Equal(["[UNK]"], Tok.Tokenize(new string('a', 101)));
    }

    [Fact]
    public void WordLengthLimitCountsCodePointsNotUtf16Units()
    {
        // U+1D41A is one code point but two UTF-16 units. 60 of them are 60 characters (≤ 100): covered by
        // "𝐚" + 59 × "##𝐚". (Microsoft.ML.Tokenizers' WordPieceTokenizer counts 120 units and answers [UNK].)
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\U0001D41A", "##\U0001D41A"]);
            var tok = BertWordPieceTokenizer.Load(path);
            int[] ids = tok.EncodeIds(string.Concat(Enumerable.Repeat("\U0001D41A", 60)));
            Assert.Equal([4, .. Enumerable.Repeat(5, 59)], ids);
            Assert.Equal([1], tok.EncodeIds(string.Concat(Enumerable.Repeat("\U0001D41A", 101))));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TruncationKeepsSepAndPadsToLength()
    {
        var e = Tok.Encode("the the the the", maxLength: 4);
        Assert.Equal([2, 73, 73, 3], e.Ids);
        Assert.Equal([1, 1, 1, 1], e.Mask);
        var p = Tok.Encode("", maxLength: 5);
        Assert.Equal([2, 3, 0, 0, 0], p.Ids);
        Assert.Equal([1, 1, 0, 0, 0], p.Mask);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode("x", maxLength: 1));
    }

    [Fact]
    public void UnknownVocabularyFileThrows()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid(), "vocab.txt");
        var e = Assert.Throws<TokenizerFileException>(() => BertWordPieceTokenizer.Load(path));
        Assert.Equal(path, e.FilePath);

        string incomplete = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(incomplete, ["[PAD]", "[UNK]", "the"]);
            var missing = Assert.Throws<TokenizerFileException>(() => BertWordPieceTokenizer.Load(incomplete));
            Assert.Contains("[CLS]", missing.Message);
        }
        finally
        {
            File.Delete(incomplete);
        }
    }

    [Fact]
    public void UncasedFalseKeepsCaseAndAccents()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Café", "cafe"]);
            var cased = BertWordPieceTokenizer.Load(path, lowerCase: false);
            var uncased = BertWordPieceTokenizer.Load(path);
            Assert.Equal([4], cased.EncodeIds("Café"));
            Assert.Equal([5], uncased.EncodeIds("Café"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
