using System.Text.Json;
using Med2E3.Native.Tokenizers;
using Microsoft.ML.Tokenizers;

namespace Med2E3.Native.Tests.Tokenizer;

public class Phi3TokenizerTests
{
    private static readonly Lazy<Phi3Tokenizer> Shared = new(() => Phi3Tokenizer.Load(TinyFixture.CheckpointDir));

    private static Phi3Tokenizer Tok => Shared.Value;

    public static TheoryData<string> FixtureStrings => new(TinyFixture.TestStrings);

    [Theory]
    [MemberData(nameof(FixtureStrings))]
    public void EncodeMatchesReferenceTokenizer(string text) =>
        Assert.Equal(TinyFixture.Ids("phi_tokenizer", text), Tok.Encode(text));

    [Theory]
    [MemberData(nameof(FixtureStrings))]
    public void EncodeSentencePieceMatchesRawSentencePiece(string text) =>
        Assert.Equal(TinyFixture.Ids("sentencepiece", text), Tok.EncodeSentencePiece(text));

    [Theory]
    [MemberData(nameof(FixtureStrings))]
    public void DecodeMatchesReference(string text)
    {
        string expected = TinyFixture.Tokenizers.GetProperty("phi_decode").GetProperty(text).GetString()!;
        Assert.Equal(expected, Tok.Decode(TinyFixture.Ids("phi_tokenizer", text), skipSpecialTokens: true));
    }

    [Fact]
    public void SpecialIdsComeFromTheCheckpoint()
    {
        Assert.Equal(1, Tok.BosTokenId);
        Assert.Equal(320, Tok.EosTokenId);
        Assert.Equal(TinyFixture.Tokenizers.GetProperty("eos_id").GetInt32(), Tok.EosTokenId);
        Assert.Equal(TinyFixture.Tokenizers.GetProperty("bos_id").GetInt32(), Tok.BosTokenId);
        Assert.Equal(0, Tok.UnknownTokenId);
        Assert.True(Tok.AddBosToken);
        Assert.False(Tok.AddEosToken);
        Assert.Equal(PrependScheme.First, Tok.Prepend);
        Assert.Equal(326, Tok.VocabSize);
        Assert.Equal(320, Tok.Model.Pieces.Count);
        foreach (var p in TinyFixture.Tokenizers.GetProperty("special_ids").EnumerateObject())
        {
            Assert.Equal(p.Value.GetInt32(), Tok.TokenToId(p.Name));
            Assert.Equal(p.Name, Tok.IdToToken(p.Value.GetInt32()));
            Assert.Contains(Tok.SpecialTokens, t => t.Id == p.Value.GetInt32() && t.Content == p.Name);
        }
    }

    [Fact]
    public void ModelFileIsReadFieldByField()
    {
        var m = Tok.Model;
        Assert.Equal(SentencePieceModelType.Bpe, m.ModelType);
        Assert.True(m.ByteFallback);
        Assert.Equal("identity", m.NormalizerName);
        Assert.Equal(0, m.PrecompiledCharsMapLength);
        Assert.True(m.AddDummyPrefix);
        Assert.False(m.RemoveExtraWhitespaces);
        Assert.True(m.EscapeWhitespaces);
        Assert.Equal((0, 1, 2, -1), (m.UnknownId, m.BosId, m.EosId, m.PadId));
        Assert.Equal(new SentencePieceEntry("<0x0A>", 0f, SentencePieceType.Byte), m.Pieces[13]);
        Assert.Equal(SentencePieceType.Control, m.Pieces[1].Type);
        Assert.Equal("\u2581", m.Pieces[265].Piece);
        Assert.Equal(256, m.Pieces.Count(p => p.Type == SentencePieceType.Byte));
        // Merge scores decrease with merge order: "al" (259) was learned before "th" (260).
        Assert.True(m.Pieces[259].Score > m.Pieces[260].Score);
    }

    [Fact]
    public void GenerationPromptMatchesGoldenIds()
    {
        string prompt = TinyFixture.Meta.GetProperty("generation_prompt").GetString()!;
        long[] golden = TinyFixture.GoldenInt64("input.prompt_ids");
        Assert.Equal(golden.Select(x => (int)x), Tok.EncodePrompt(prompt));
    }

    [Fact]
    public void TrainingPromptMatchesGoldenIds()
    {
        string prompt = TinyFixture.Meta.GetProperty("training_prompt").GetString()!;
        long[] golden = TinyFixture.GoldenInt64("input.train_ids");
        Assert.Equal(golden.Select(x => (int)x), Tok.EncodePrompt(prompt));
    }

    [Fact]
    public void EncodePromptChunksAreTokenizedSeparately()
    {
        // "\nhi" alone: "▁" prefix, byte <0x0A> = 13, then h i (no merge "hi" in this vocabulary).
        // No BOS: the first chunk is the placeholder, and the reference only adds BOS before a first text chunk.
        Assert.Equal([-201, 265, 13, 275, 267], Tok.EncodePrompt("<image3d>\nhi"));
        // Chunks "a", "<image3d>", "", "<image>", "b": the empty chunk is dropped, "b" gets its own "▁".
        Assert.Equal([1, 265, 268, -201, -200, 265, 285], Tok.EncodePrompt("a<image3d><image>b"));
        Assert.Empty(Tok.EncodePrompt(""));
    }

    [Fact]
    public void LeadingSpaceGetsNoExtraMarker()
    {
        // Gap closed by own code: the reference (tokenizers' Metaspace, prepend_scheme "first") adds "▁" only when
        // the text does not already start with one, so " in" → "▁in" → [▁i, n]; raw SentencePiece adds its dummy
        // prefix anyway: "▁▁in" → [▁, ▁i, n]. Merges: "▁i" is a piece, "▁▁" and "in" are not.
        Assert.Equal([1, 263, 270], Tok.Encode(" in"));
        Assert.Equal([265, 263, 270], Tok.EncodeSentencePiece(" in"));
        Assert.Equal([1, 263, 270], Tok.Encode("in"));
    }

    [Fact]
    public void EmptyStringIsBosOnly()
    {
        Assert.Equal([1], Tok.Encode(""));
        Assert.Empty(Tok.EncodeSentencePiece(""));
    }

    [Fact]
    public void TextAfterAnAddedTokenGetsNoMarker()
    {
        // "<|endoftext|>in": "in" does not start the input, so no "▁": i n. With a space it is "▁in" → [▁i, n].
        Assert.Equal([1, 320, 267, 270], Tok.Encode("<|endoftext|>in"));
        Assert.Equal([1, 320, 263, 270], Tok.Encode("<|endoftext|> in"));
        // bos/eos/unk strings in the text are tokens too; "in" after "<s>" does not start the input either.
        Assert.Equal([1, 1, 267, 270, 2], Tok.Encode("<s>in</s>"));
    }

    [Fact]
    public void TheLibraryAloneDiffersOnLeadingSpacesAndTheEmptyString()
    {
        // Why the normalization, BOS and splitting are our own code: Microsoft.ML.Tokenizers' LlamaTokenizer applies
        // SentencePiece's dummy prefix unconditionally and adds no BOS to an empty input.
        using var stream = File.OpenRead(Path.Combine(TinyFixture.CheckpointDir, "tokenizer.model"));
        var library = LlamaTokenizer.Create(stream);
        const string leading = "  Leading and   repeated spaces.";
        Assert.NotEqual(TinyFixture.Ids("phi_tokenizer", leading), library.EncodeToIds(leading));
        Assert.NotEqual(TinyFixture.Ids("phi_tokenizer", ""), library.EncodeToIds(""));
        Assert.Equal(TinyFixture.Ids("phi_tokenizer", leading), Tok.Encode(leading));
    }

    [Fact]
    public void DecodeReassemblesBytesAndReplacesInvalidRuns()
    {
        // ▁ <0xF0> <0x9F> ▁ L: F0 9F is a truncated 4-byte sequence → one U+FFFD per byte; leading space removed.
        Assert.Equal("\uFFFD\uFFFD L", Tok.Decode([265, 243, 162, 265, 305]));
        // 🙂 = F0 9F 99 82 (ids = byte + 3).
        Assert.Equal("🙂", Tok.Decode([243, 162, 156, 133]));
        // The fixture's 12 greedy tokens: <0xFB> <0x88> M z <0x11> <0x2A> <0x7B> <0x33> <0x0E> <0x7B> <0x33> <0x0E>.
        int[] generated = [.. TinyFixture.GoldenInt64("output.generated_ids").Select(x => (int)x)];
        Assert.Equal("\uFFFD\uFFFDMz\u0011*{3\u000E{3\u000E", Tok.Decode(generated));
    }

    [Fact]
    public void DecodeKeepsOrSkipsSpecialTokens()
    {
        int[] ids = [1, 265, 305, 320, 265, 305];
        Assert.Equal("L L", Tok.Decode(ids, skipSpecialTokens: true));
        // Added tokens are written as their content; the first character is '<', so no space is stripped.
        Assert.Equal("<s> L<|endoftext|> L", Tok.Decode(ids, skipSpecialTokens: false));
        // Ids beyond the tokenizer (unused embedding rows) are skipped.
        Assert.Equal("L", Tok.Decode([265, 305, 327, 5000, -1]));
    }

    [Fact]
    public void RoundTripsOrdinaryText()
    {
        const string text = "Mild cardiomegaly with a small pericardial effusion; 14.1 cm – naïve, 中文 🙂.";
        Assert.Equal(text, Tok.Decode(Tok.Encode(text)));
    }

    private static object StripFlagsConfig(bool? legacy) => new
    {
        add_bos_token = false,
        legacy,
        bos_token = "<s>",
        eos_token = new { content = "<|endoftext|>" },
        unk_token = "<unk>",
        pad_token = "<|endoftext|>",
        added_tokens_decoder = new Dictionary<string, object>
        {
            ["0"] = new { content = "<unk>", special = true },
            ["1"] = new { content = "<s>", special = true },
            ["2"] = new { content = "</s>", special = true },
            ["320"] = new { content = "<|endoftext|>", special = true },
            ["321"] = new { content = "<|assistant|>", special = true, rstrip = true },
            ["322"] = new { content = "<|user|>", special = true, lstrip = true },
            ["323"] = new { content = "<|note|>", special = false },
        },
    };

    [Fact]
    public void SlowTokenizerHonoursLegacyFalseAndTheStripFlags()
    {
        string dir = TempCheckpoint(StripFlagsConfig(legacy: false));
        try
        {
            var tok = Phi3Tokenizer.Load(dir);
            Assert.Equal(TokenizerBackend.SentencePiece, tok.Backend);
            Assert.False(tok.AddBosToken);
            Assert.False(tok.Legacy);
            Assert.True(tok.AddPrefixSpace);
            Assert.Equal(320, tok.EosTokenId);
            Assert.Equal(320, tok.PadTokenId);
            // "▁<|assistant|>  in": rstrip swallows the two spaces; "in" does not start with "▁", so it gets none: i n.
            // The lone "▁" in front stays, because <|assistant|> is not among bos/eos/unk/pad (all_special_tokens).
            Assert.Equal([265, 321, 267, 270], tok.Encode("<|assistant|>  in"));
            // <|endoftext|> is the eos token, so the lone "▁" before it is dropped.
            Assert.Equal([320, 267, 270], tok.Encode("<|endoftext|>in"));
            // lstrip swallows the space before the token: "▁in" + token.
            Assert.Equal([263, 270, 322], tok.Encode("in <|user|>"));
            // add_prefix_space puts "▁" in front even of a leading space: "▁ in" → ▁ ▁i n.
            Assert.Equal([265, 263, 270], tok.Encode(" in"));
            // Without BOS the prompt chunks keep all their ids.
            Assert.Equal([265, 297, -201], tok.EncodePrompt("x<image3d>"));
            // A non-special added token survives skipSpecialTokens.
            Assert.Equal("x<|note|>", tok.Decode([265, 297, 323, 320]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(null)]
    public void SlowTokenizerWithLegacyGivesEveryPieceItsDummyPrefix(bool? legacy)
    {
        // legacy true, and also absent or null (transformers' default): SentencePiece's own dummy prefix on each
        // piece between added tokens, so "in" after a token is "▁in" → ▁i n.
        string dir = TempCheckpoint(StripFlagsConfig(legacy));
        try
        {
            var tok = Phi3Tokenizer.Load(dir);
            Assert.True(tok.Legacy);
            Assert.Equal([321, 263, 270], tok.Encode("<|assistant|>  in"));
            Assert.Equal([320, 263, 270], tok.Encode("<|endoftext|>in"));
            Assert.Equal([265, 263, 270], tok.Encode(" in"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AddedTokensJsonFallback()
    {
        string dir = TempCheckpoint(config: null);
        try
        {
            File.WriteAllText(Path.Combine(dir, "added_tokens.json"), """{"<|endoftext|>": 320, "<|x|>": 321}""");
            File.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), """{"eos_token": "<|endoftext|>"}""");
            var tok = Phi3Tokenizer.Load(dir);
            Assert.Equal(320, tok.EosTokenId);
            Assert.Equal([1, 265, 268, 320, 321], tok.Encode("a<|endoftext|><|x|>"));
            Assert.Equal("a<|x|>", tok.Decode([1, 265, 268, 320, 321]));
            Assert.Equal(322, tok.VocabSize);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadFilesThrowTypedExceptionsNamingTheFile()
    {
        string dir = Directory.CreateTempSubdirectory("phi3tok").FullName;
        try
        {
            var missing = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.EndsWith("tokenizer.model", missing.FilePath);

            File.WriteAllText(Path.Combine(dir, "tokenizer.model"), "hello");
            var garbage = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.Contains("tokenizer.model", garbage.Message);

            File.Copy(Path.Combine(TinyFixture.CheckpointDir, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"),
                overwrite: true);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{ not json");
            var json = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.EndsWith("tokenizer_config.json", json.FilePath);

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": "<nope>"}""");
            var eos = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.Contains("<nope>", eos.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"legacy": "no"}""", "'legacy' must be true, false or null")]
    [InlineData("""{"add_prefix_space": 1}""", "'add_prefix_space' must be true, false or null")]
    [InlineData("""{"sp_model_kwargs": {"enable_sampling": true}}""", "enable_sampling")]
    public void BadFlagsThrowTypedExceptionsNamingTheFile(string config, string problem)
    {
        string dir = TempCheckpoint(null);
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
            var e = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.EndsWith("tokenizer_config.json", e.FilePath);
            Assert.Contains(problem, e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnsupportedTokenizerJsonPipelineIsRefused()
    {
        string dir = TempCheckpoint(new { backend = "tokenizers" });
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """{"normalizer": {"type": "NFKC"}}""");
            var e = Assert.Throws<TokenizerFileException>(() => Phi3Tokenizer.Load(dir));
            Assert.EndsWith("tokenizer.json", e.FilePath);
            Assert.Contains("normalizer 'NFKC' is not supported", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AddPrefixSpaceNullMeansNoPrefix()
    {
        // Python None is falsy: the slow tokenizer with legacy false then puts no "▁" in front: "in" → i n.
        string dir = TempCheckpoint(new { legacy = false, add_prefix_space = (bool?)null });
        try
        {
            var tok = Phi3Tokenizer.Load(dir);
            Assert.False(tok.AddPrefixSpace);
            Assert.Equal([1, 267, 270], tok.Encode("in"));
            Assert.Equal("in", tok.Decode([1, 267, 270]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string TempCheckpoint(object? config)
    {
        string dir = Directory.CreateTempSubdirectory("phi3tok").FullName;
        File.Copy(Path.Combine(TinyFixture.CheckpointDir, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
        if (config is not null)
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), JsonSerializer.Serialize(config));
        }

        return dir;
    }
}
