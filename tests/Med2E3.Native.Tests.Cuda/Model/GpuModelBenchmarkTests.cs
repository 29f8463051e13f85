using System.Text.Json;
using Med2E3.Native.Benchmarks.Kernels;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Model;

/// <summary>
/// <c>med2e3-bench gpu-model --quick</c> runs on this device (the emulated one in CI): the tiny synthetic checkpoint is
/// written, loaded on the device and every stage is timed; the JSON has the required keys with positive values and one
/// row per stage.
/// </summary>
public class GpuModelBenchmarkTests(TestDevice fixture)
{
    [CudaFact]
    public void QuickModeTimesEveryStageAndWritesTheKeys()
    {
        string dir = Directory.CreateTempSubdirectory("med2e3-gpu-model-bench-").FullName;
        try
        {
            string json = Path.Combine(dir, "gpu-model.json"), markdown = Path.Combine(dir, "gpu-model.md");
            var options = GpuModelOptions.Parse(["--quick", "--runs", "3", "--work", dir, "--json", json, "--markdown", markdown]);
            Assert.Null(options.Error);
            var output = new StringWriter();
            int rc = GpuModelBenchmark.Run(Backend(fixture), options, output);
            Assert.True(rc == 0, output.ToString());

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("gpu").GetString()));
            foreach (string key in (string[])["encode_ms", "prefill_ms", "decode_ms_per_token", "e2e_100_tokens_s", "peak_gpu_mem_gib"])
            {
                Assert.True(root.GetProperty(key).GetDouble() > 0, $"{key} = {root.GetProperty(key)}");
            }

            // 100 greedy tokens after the encode and the prefill cost more than those two alone.
            Assert.True(root.GetProperty("e2e_100_tokens_s").GetDouble() * 1e3
                > root.GetProperty("encode_ms").GetDouble() + root.GetProperty("prefill_ms").GetDouble());
            // The peak holds at least the bf16 weights of the tiny model (ViT, SigLIP, BERT, Phi-3 with its 32064 vocab).
            Assert.True(root.GetProperty("peak_gpu_mem_gib").GetDouble() * (1L << 30) > 2 * 2 * 32064 * 64);

            var rows = root.GetProperty("rows").EnumerateArray().ToArray();
            Assert.Equal(GpuModelBenchmark.Stages, rows.Select(r => r.GetProperty("Stage").GetString()!).ToArray());
            foreach (var r in rows)
            {
                Assert.True(r.GetProperty("Median").GetDouble() > 0);
                Assert.True(r.GetProperty("FloorMs").GetDouble() > 0);
            }
            Assert.Contains("+ 100 greedy tokens", rows[^1].GetProperty("Shape").GetString());
            Assert.Equal(31.4, root.GetProperty("reference").GetProperty("decode_ms_per_token").GetDouble());
            Assert.Contains("| decode (per token) |", File.ReadAllText(markdown));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
