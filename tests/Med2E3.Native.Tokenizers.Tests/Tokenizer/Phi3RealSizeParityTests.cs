using System.Text;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>
/// The 32,000-piece BPE model (tests/data/tokenizer/phi3-32k, trained by scripts/tokenizer/train_phi3_model.py) on
/// about 3,700 strings against SentencePiece's own ids and the slow LlamaTokenizer's (scripts/tokenizer/make_phi3_cases.py).
/// </summary>
public class Phi3RealSizeParityTests
{
    private static Phi3Cases Cases => TokenizerData.Phi3;

    [Fact]
    public void ModelIsTheRealSize()
    {
        var tok = Phi3Tokenizer.Load(TokenizerData.Phi3Dir);
        Assert.Equal(32000, tok.Model.Pieces.Count);
        Assert.True(tok.Model.ByteFallback);
        Assert.Equal(256, tok.Model.Pieces.Count(p => p.Type == SentencePieceType.Byte));
        Assert.True(Cases.Strings.Length >= 3000, $"{Cases.Strings.Length} strings");
    }

    [Fact]
    public void EncodeSentencePieceMatchesSentencePiece()
    {
        var tok = Phi3Tokenizer.Load(TokenizerData.Phi3Dir);
        Parity.AssertAll("sentencepiece", Cases.Strings, Cases.Ids["sentencepiece"], tok.EncodeSentencePiece);
    }

    [Theory]
    [InlineData("phi3")]
    [InlineData("legacy")]
    [InlineData("no_prefix")]
    public void EncodeMatchesTheSlowLlamaTokenizer(string config)
    {
        string dir = TokenizerData.TempCheckpoint(new Dictionary<string, string>
        {
            ["tokenizer_config.json"] = Cases.Configs[config],
        });
        try
        {
            var tok = Phi3Tokenizer.Load(dir);
            Assert.Equal(TokenizerBackend.SentencePiece, tok.Backend);
            Parity.AssertAll(config, Cases.Strings, Cases.Ids[config], tok.Encode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheLibraryMergeLoopTakesTiesFromTheRight()
    {
        // Why the merge loop is our own: Microsoft.ML.Tokenizers 2.0.1 makes the rightmost of equal-score merges
        // first, SentencePiece the leftmost. Same model, same normalized text ("▁" prefix, spaces escaped).
        using var stream = File.OpenRead(Path.Combine(TokenizerData.Phi3Dir, "tokenizer.model"));
        var library = Microsoft.ML.Tokenizers.LlamaTokenizer.Create(stream, addBeginOfSentence: false,
            addEndOfSentence: false);
        int[] Library(string text) => text.Length == 0
            ? []
            : [.. library.EncodeToIds("\u2581" + text.Replace(' ', '\u2581'), addBeginningOfSentence: false,
                addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false)];
        var report = new StringBuilder();
        int mismatches = Parity.Count(Cases.Strings, Cases.Ids["sentencepiece"], Library, report);
        TestContext.Current.SendDiagnosticMessage($"Microsoft.ML.Tokenizers: {mismatches} of {Cases.Strings.Length} differ\n{report}");
        Assert.True(mismatches > 0);

        // "aaaa" → ▁a + "aaa": the pairs (a, a) at 1 and at 2 tie; SentencePiece merges the left one.
        var tok = Phi3Tokenizer.Load(TokenizerData.Phi3Dir);
        string[] Pieces(IEnumerable<int> ids) => [.. ids.Select(i => tok.Model.Pieces[i].Piece)];
        Assert.Equal(["\u2581a", "aa", "a"], Pieces(tok.EncodeSentencePiece("aaaa")));
        Assert.Equal(["\u2581a", "a", "aa"], Pieces(Library("aaaa")));
        Assert.Equal(["\u2581", "<0x0A>", "LL", "L"], Pieces(tok.EncodeSentencePiece("\nLLL")));
    }
}
