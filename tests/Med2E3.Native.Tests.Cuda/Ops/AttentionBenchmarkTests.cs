using System.Text.Json;
using Med2E3.Native.Benchmarks;
using Med2E3.Native.Benchmarks.Kernels;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// <c>med2e3-bench attention-kernels --quick</c> runs on this device (the emulated one in CI): every variant of every
/// regime is checked against the reference and timed, and the JSON has one row for each.
/// </summary>
public class AttentionBenchmarkTests(TestDevice fixture)
{
    [CudaFact]
    public void QuickModeChecksAndTimesEveryVariant()
    {
        string dir = Directory.CreateTempSubdirectory("med2e3-attention-bench-").FullName;
        try
        {
            string json = Path.Combine(dir, "attention.json"), markdown = Path.Combine(dir, "attention.md");
            var options = BenchOptions.Parse(["--quick", "--runs", "10", "--json", json, "--markdown", markdown]);
            var output = new StringWriter();
            var backend = Backend(fixture);
            int rc = AttentionBenchmark.Run(backend, options, output);
            Assert.True(rc == 0, output.ToString());
            Assert.Null(backend.AttentionKernelOverride);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToArray();
            string[] kernels =
                [.. rows.Select(r => $"{r.GetProperty("Regime").GetString()} {r.GetProperty("Kernel").GetString()}")];
            Assert.Equal(
            [
                "3D ViT attention_fwd_bf16", "3D ViT attention_fwd_bf16_v2", "3D ViT attention_fwd_bf16_v3",
                "3D ViT attention_fwd_bf16_v4", "SigLIP attention_fwd_bf16", "SigLIP attention_fwd_bf16_v2",
                "SigLIP attention_fwd_bf16_v3", "SigLIP attention_fwd_bf16_v4", "Phi-3 prefill attention_fwd_bf16",
                "Phi-3 prefill attention_fwd_bf16_v2", "Phi-3 prefill attention_fwd_bf16_v3",
                "Phi-3 decode attention_decode_bf16", "Phi-3 decode attention_decode_bf16_v2",
            ], kernels);
            foreach (var r in rows)
            {
                Assert.Equal("ok", r.GetProperty("Check").GetString());
                Assert.True(r.GetProperty("MedianMs").GetDouble() > 0);
                double nmse = r.GetProperty("Nmse").GetDouble(), floor = r.GetProperty("NmseFloor").GetDouble();
                Assert.InRange(nmse, floor * 0.999, 2 * floor + 1e-10);
            }

            Assert.Contains("| Phi-3 decode | attention_decode_bf16_v2 |", File.ReadAllText(markdown));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
