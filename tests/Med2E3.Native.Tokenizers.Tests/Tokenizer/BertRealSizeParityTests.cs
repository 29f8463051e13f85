using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Med2E3.Native.Tokenizers;
using HfTokenizer = Tokenizers.DotNet.Tokenizer;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>
/// The WordPiece tokenizer with a 30,522-entry vocabulary (tests/data/tokenizer/bert-30k, made by
/// scripts/tokenizer/make_bert_cases.py) on the 3,672 strings of phi3-32k/cases.json, against the slow
/// BertTokenizer's ids and against Hugging Face tokenizers' BertNormalizer + BertPreTokenizer + WordPiece.
/// </summary>
public class BertRealSizeParityTests
{
    private static string Dir => Path.Combine(TokenizerData.Dir, "bert-30k");

    private static readonly Lazy<JsonElement> Cases = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "cases.json"))).RootElement);

    private static readonly Lazy<int[][]> SlowIds = new(() =>
        [.. Cases.Value.GetProperty("bert").EnumerateArray().Select(Ids)]);

    public static TheoryData<string, string> Differences =>
        new(Cases.Value.GetProperty("differences").EnumerateArray().Select(e => (e[0].GetString()!, e[1].GetString()!)));

    [Fact]
    public void EncodeMatchesTheSlowBertTokenizer()
    {
        var bert = BertWordPieceTokenizer.Load(Path.Combine(Dir, "vocab.txt"));
        Assert.Equal(30522, bert.VocabSize);
        Parity.AssertAll("slow BertTokenizer", TokenizerData.Phi3.Strings, SlowIds.Value, bert.EncodeIds);
    }

    [Theory]
    [MemberData(nameof(Differences))]
    public void DifferencesFromHuggingFaceTokenizersFollowTheSlowTokenizer(string kind, string text)
    {
        // docs/tokenizers.md lists the kinds. The slow tokenizer's ids come from Python 3.11 (Unicode 14.0); for
        // characters that Unicode 15.0-16.0 added, ours follow .NET's newer tables, as the slow tokenizer does on
        // a Python of that Unicode version (3.14 has 16.0): such a letter stays in its word instead of being dropped.
        var bert = BertWordPieceTokenizer.Load(Path.Combine(Dir, "vocab.txt"));
        using var hf = LoadHf(out string dir);
        try
        {
            int[] slow = Ids(Cases.Value.GetProperty("differences").EnumerateArray().First(e => e[1].GetString() == text)[2]);
            int[] fast = [.. hf.Encode(text).Select(x => (int)x)];
            int[] ours = bert.EncodeIds(text);
            Assert.NotEqual(fast[1..^1], slow);
            if (kind == "unicode-15-16")
            {
                Assert.Equal(fast[1..^1], ours);
                Assert.Equal([bert.UnknownTokenId], ours);
            }
            else
            {
                Assert.Equal(slow, ours);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void HuggingFaceTokenizersAgreesOnTheTestStrings()
    {
        var bert = BertWordPieceTokenizer.Load(Path.Combine(Dir, "vocab.txt"));
        using var hf = LoadHf(out string dir);
        try
        {
            var strings = TokenizerData.Phi3.Strings;
            var report = new StringBuilder();
            int mismatches = 0;
            for (int i = 0; i < strings.Length; i++)
            {
                int[] fast = [.. hf.Encode(strings[i].Text).Select(x => (int)x)];
                int[] ours = bert.EncodeIds(strings[i].Text);
                if (fast.AsSpan(1, fast.Length - 2).SequenceEqual(ours))
                {
                    continue;
                }

                mismatches++;
                report.AppendLine($"  [{strings[i].Kind}] {Parity.Escape(strings[i].Text)}");
                report.AppendLine($"    fast [{string.Join(' ', fast[1..^1])}]");
                report.AppendLine($"    ours [{string.Join(' ', ours)}]");
            }

            Assert.True(mismatches == 0, $"tokenizers: {mismatches} strings differ\n{report}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int[] Ids(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    // tokenizers' BertNormalizer + BertPreTokenizer + WordPiece on the same vocabulary (BertConverter's tokenizer.json).
    private static HfTokenizer LoadHf(out string dir)
    {
        dir = Directory.CreateTempSubdirectory("bert-30k").FullName;
        string json = Path.Combine(dir, "tokenizer.json");
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(Dir, "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var f = File.Create(json))
        {
            gz.CopyTo(f);
        }

        return new HfTokenizer(json);
    }
}
