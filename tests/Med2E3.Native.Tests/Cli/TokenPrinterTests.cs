using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Tokenizer;

namespace Med2E3.Native.Tests.Cli;

/// <summary>Streaming an answer token by token prints exactly the text that decoding all ids at once gives.</summary>
public class TokenPrinterTests
{
    static readonly Phi3Tokenizer Tokenizer = Phi3Tokenizer.Load(Path.Combine(CliRunner.FixtureDir, "checkpoint"));

    [Theory]
    [InlineData("What abnormality is seen in the liver?")]
    [InlineData("emoji 🙂 and 中文 characters")]
    [InlineData("Ménétrier café naïve – dash")]
    [InlineData("  Leading and   repeated spaces.")]
    public void StreamedTextEqualsTheWholeDecode(string text)
    {
        int[] ids = Tokenizer.Encode(text).Where(id => id != Tokenizer.BosTokenId).ToArray();
        var sink = new StringWriter();
        var printer = new TokenPrinter(i => Tokenizer.Decode(i), sink);
        var seen = new List<string>();
        foreach (int id in ids)
        {
            printer.Add(id);
            seen.Add(sink.ToString());
        }
        string answer = printer.Finish();

        Assert.Equal(Tokenizer.Decode(ids), answer);
        Assert.Equal(answer + Environment.NewLine, sink.ToString());
        Assert.DoesNotContain('\uFFFD', sink.ToString());
        Assert.True(seen.Count(s => s.Length > 0) >= 2, "text should appear before the last token");
    }
}
