using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Models.Decoder;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// The KV cache follows the positions actually generated: a generation request beyond the decoder's positions stops
/// there, and a large (valid) llm_max_length no longer allocates its whole cache up front.
/// </summary>
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

    [Fact]
    public void TheKvCacheGrowsAsPositionsArrive()
    {
        using var cache = new KvCache(layers: 2, batch: 1, kvHeads: 2, capacity: 1 << 24, headDim: 4, DType.F32, Device.Cpu);
        Assert.Equal(KvCache.InitialPositions, cache.Allocated(0));
        var all = new List<float>();
        for (int step = 0; step < 3; step++)
        {
            float[] values = [.. Enumerable.Range(0, 2 * 150 * 4).Select(i => step * 10000f + i)];
            using var k = Tensor.FromFloats(values, [1, 2, 150, 4], DType.F32);               // (B, Hkv, T, Dh)
            for (int layer = 0; layer < 2; layer++)
            {
                var (keys, vals) = cache.Append(layer, k, k);
                using (keys)
                using (vals)
                {
                    Assert.Equal(150 * (step + 1), keys.Dim(2));
                    float[] got = keys.Contiguous().ToFloatArray();
                    // Head by head: the earlier positions are kept through every growth.
                    for (int h = 0; h < 2; h++)
                        for (int s = 0; s <= step; s++)
                            for (int p = 0; p < 150; p++)
                                for (int d = 0; d < 4; d++)
                                    Assert.Equal(s * 10000f + (h * 150 + p) * 4 + d, got[((h * 150 * (step + 1)) + s * 150 + p) * 4 + d]);
                }
            }
        }
        Assert.Equal(512, cache.Allocated(0));                                                  // 256 → 512, never 2^24
    }

    [Fact]
    public void AHugeButValidLlmMaxLengthAllocatesOnlyWhatIsGenerated()
    {
        // llm_max_length = max_position_embeddings = 2^24 is valid, and generate's default budget is llm_max_length:
        // before, the cache was allocated for all 2^24 positions up front (16 GiB for the tiny model).
        using var tmp = new CliRunner.TempDir();
        BadInputTests.CopyDirectory(CliRunner.FixtureDir, tmp.Path);
        string root = Path.Combine(tmp.Path, "checkpoint");
        static void Edit(string path, string find, string replace) =>
            File.WriteAllText(path, File.ReadAllText(path).Replace(find, replace));
        Edit(Path.Combine(root, "llm", "config.json"), "\"max_position_embeddings\": 1024,", "\"max_position_embeddings\": 16777216,");
        Edit(Path.Combine(root, "args", "config.json"), "\"llm_max_length\": 768,", "\"llm_max_length\": 16777216,");
        using var model = Models.Multimodal.Med2E3Model.Load(root, "cpu");
        var info = Models.Golden.GoldenFixture.Open(CliRunner.FixtureDir).Tensor("input.volume");
        using var volume = Tensor.FromFloats(info.ToFloat32(), info.GetShape(), DType.F32);
        long before = Environment.WorkingSet;
        // Every id stops the generation, so it ends after one token whatever the model picks.
        var result = model.Generate(volume, "hi", new Models.Multimodal.GenerationOptions
        {
            StopTokenIds = [.. Enumerable.Range(0, model.Llm.Config.VocabSize)],
        });
        long grown = Environment.WorkingSet - before;
        Assert.Single(result.TokenIds);
        Assert.True(grown < 1L << 30, $"the working set grew by {grown >> 20} MiB");
    }
}
