using System.Text.Json.Nodes;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tokenizers;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// Which Llama tokenizer a checkpoint loads: args/config.json's <c>tokenizer_use_fast</c> (the training recipe's
/// switch) asks for the fast one; without it tokenizer_config.json decides (slow when it names no backend).
/// </summary>
public class TokenizerChoiceTests
{
    /// <summary>A copy of the fixture checkpoint whose tokenizer_config.json names no backend.</summary>
    private static string CopyWithoutBackend(CliRunner.TempDir tmp, bool? useFast)
    {
        string ckpt = Path.Combine(tmp.Path, "checkpoint");
        BadInputTests.CopyDirectory(ModelFixture.Checkpoint, ckpt);
        string tokConfig = Path.Combine(ckpt, "tokenizer_config.json");
        var tok = JsonNode.Parse(File.ReadAllText(tokConfig))!.AsObject();
        tok.Remove("backend");
        File.WriteAllText(tokConfig, tok.ToJsonString());
        string argsPath = Path.Combine(ckpt, "args", "config.json");
        var args = JsonNode.Parse(File.ReadAllText(argsPath))!.AsObject();
        if (useFast is bool b) args["tokenizer_use_fast"] = b;
        File.WriteAllText(argsPath, args.ToJsonString());
        return ckpt;
    }

    [Fact]
    public void TokenizerUseFastLoadsTheFastTokenizer()
    {
        using var tmp = new CliRunner.TempDir();
        string ckpt = CopyWithoutBackend(tmp, useFast: true);
        using var model = Med2E3Model.Load(ckpt, "cpu", new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab });
        Assert.Equal(TokenizerBackend.Tokenizers, model.Tokenizer.Backend);
    }

    /// <summary>
    /// The fixture keeps its added tokens in tokenizer.json only (a transformers 5 save), which the slow tokenizer
    /// does not read: a slow load is refused, which shows that the slow tokenizer was the one chosen.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData(false)]
    public void WithoutTokenizerUseFastTheSlowTokenizerIsChosen(bool? useFast)
    {
        using var tmp = new CliRunner.TempDir();
        string ckpt = CopyWithoutBackend(tmp, useFast);
        var e = Assert.Throws<TokenizerFileException>(() =>
            Med2E3Model.Load(ckpt, "cpu", new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab }));
        Assert.Contains("eos_token '<|endoftext|>' is neither an added token nor a piece", e.Message);
    }
}
