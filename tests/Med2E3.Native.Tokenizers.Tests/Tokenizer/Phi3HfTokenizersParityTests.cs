using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Med2E3.Native.Tokenizers;
using HfTokenizer = Tokenizers.DotNet.Tokenizer;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>
/// The second oracle: Hugging Face tokenizers (through the Tokenizers.DotNet package) on the tokenizer.json that
/// transformers' Llama converter makes of the 32,000-piece model (scripts/tokenizer/make_phi3_tokenizer_json.py),
/// against <see cref="TokenizerBackend.Tokenizers"/> on the same folder, for every string of cases.json.
/// </summary>
public sealed class Phi3HfTokenizersParityTests : IDisposable
{
    private const string Config = """
        {"backend": "tokenizers", "add_bos_token": true, "add_eos_token": false, "bos_token": "<s>",
         "eos_token": "<|endoftext|>", "unk_token": "<unk>", "pad_token": "<|endoftext|>"}
        """;

    private readonly List<string> _dirs = [];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EncodeMatchesHuggingFaceTokenizers(bool legacy)
    {
        var (ours, hf) = Load(legacy);
        using (hf)
        {
            var cases = TokenizerData.Phi3;
            var expected = cases.Strings.Select(s => hf.Encode(s.Text).Select(i => (int)i).ToArray()).ToArray();
            Parity.AssertAll($"tokenizers {hf.GetVersion()}", cases.Strings, expected, ours.Encode);
        }
    }

    [Fact]
    public void DecodeMatchesHuggingFaceTokenizers()
    {
        var (ours, hf) = Load(legacy: false);
        using (hf)
        {
            var report = new StringBuilder();
            int mismatches = 0;
            foreach (var (kind, text) in TokenizerData.Phi3.Strings)
            {
                uint[] ids = hf.Encode(text);
                string expected = hf.Decode(ids);
                string actual = ours.Decode(ids.Select(i => (int)i));
                if (expected != actual && ++mismatches <= 10)
                {
                    report.AppendLine($"  [{kind}] {Parity.Escape(text)}: {Parity.Escape(expected)} ≠ {Parity.Escape(actual)}");
                }
            }

            Assert.True(mismatches == 0, $"decode: {mismatches} strings differ\n{report}");
        }
    }

    [Fact]
    public void TheTokenizersBackendIsPickedByTheConfig()
    {
        var (ours, hf) = Load(legacy: false);
        hf.Dispose();
        Assert.Equal(TokenizerBackend.Tokenizers, ours.Backend);
        Assert.Equal(PrependScheme.First, ours.Prepend);
        // "first": no second "▁" before a leading space, none after an added token (the slow tokenizer differs on both).
        Assert.Equal(ours.Encode("in")[1..], ours.Encode(" in")[1..]);
        // <|user|> has rstrip, so it takes the "\n"; "hi" then gets no "▁".
        Assert.Equal([1, 32010, ours.TokenToId("hi")!.Value], ours.Encode("<|user|>\nhi"));
    }

    public void Dispose()
    {
        foreach (string dir in _dirs)
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // The model with tokenizer.json (legacy: its normalizer Prepend("▁") + Replace(" ", "▁") and no pre-tokenizer,
    // as the converter writes it for legacy true) and a transformers 5 style tokenizer_config.json.
    private (Phi3Tokenizer Ours, HfTokenizer Hf) Load(bool legacy)
    {
        string json;
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(TokenizerData.Phi3Dir, "tokenizer.json.gz")),
                   CompressionMode.Decompress))
        using (var reader = new StreamReader(gz, Encoding.UTF8))
        {
            json = reader.ReadToEnd();
        }

        if (legacy)
        {
            var root = JsonNode.Parse(json)!.AsObject();
            root["normalizer"] = JsonNode.Parse("""
                {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
                """);
            root["pre_tokenizer"] = null;
            json = root.ToJsonString();
        }

        string dir = TokenizerData.TempCheckpoint(new Dictionary<string, string>
        {
            ["tokenizer.json"] = json,
            ["tokenizer_config.json"] = Config,
        });
        _dirs.Add(dir);
        return (Phi3Tokenizer.Load(dir), new HfTokenizer(Path.Combine(dir, "tokenizer.json")));
    }
}
