using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Model;

/// <summary>A generation request beyond the decoder's positions stops there instead of sizing a KV cache from it.</summary>
public class GenerationBoundsTests
{
    [Fact]
    public void AHugeMaxNewTokensStopsAtTheLastPosition()
    {
        // Before: the KV cache was allocated for 2e9 positions (exit 70, out of memory).
        var r = CliRunner.Run("generate", "--demo", "--max-new-tokens", "2000000000", "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        int prompt = doc.RootElement.GetProperty("prompt_length").GetInt32();
        int tokens = doc.RootElement.GetProperty("token_ids").GetArrayLength();
        Assert.InRange(tokens, 1, 1024 - prompt);                    // the demo's max_position_embeddings is 1024
        if (tokens == 1024 - prompt) Assert.Equal("length", doc.RootElement.GetProperty("stop_reason").GetString());
    }
}
