using System.IO.Compression;
using System.Text.Json;
using Med2E3.Native.Benchmarks.Cpu;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Tests.Benchmarks;

/// <summary>
/// <c>med2e3-bench cpu-model --quick</c> end to end (synthetic checkpoint, floors, one child process per precision,
/// every stage, table and JSON), and the synthetic checkpoint itself: strict-valid, CRC-correct, values as drawn.
/// </summary>
public sealed class CpuModelBenchmarkTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("med2e3-cpu-model-test").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public void QuickRunMeasuresEveryStageOfBothPrecisions()
    {
        string json = Path.Combine(_work, "result.json");
        string md = Path.Combine(_work, "result.md");
        int rc = CpuModelBenchmark.Run(["--quick", "--e2e", "--e2e-tokens", "4", "--reps", "1", "--decode-steps", "3",
            "--pytorch", "off", "--work", _work, "--json", json, "--markdown", md]);
        Assert.Equal(0, rc);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        var floors = root.GetProperty("floors");
        Assert.True(floors.GetProperty("read_g_bps").GetDouble() > 0);
        Assert.True(floors.GetProperty("fma_gflops_n").GetDouble() > 0);
        var children = root.GetProperty("children").EnumerateArray().ToList();
        Assert.Equal(["f32", "bf16"], children.Select(c => c.GetProperty("precision").GetString()));
        foreach (var child in children)
        {
            Assert.False(child.TryGetProperty("error", out _), child.ToString());
            Assert.True(child.GetProperty("peak_rss_gb").GetDouble() > 0);
            var stages = child.GetProperty("stages").EnumerateArray().ToList();
            Assert.Equal(CpuModelStages.All, stages.Select(s => s.GetProperty("stage").GetString()));
            Assert.All(stages, s => Assert.True(s.GetProperty("median").GetDouble() > 0, s.ToString()));
        }
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(2 * (CpuModelStages.All.Length + 1), rows.Count);           // each stage and peak RSS, per precision
        Assert.All(rows, r =>
        {
            Assert.True(r.GetProperty("ours").GetDouble() > 0, r.ToString());
            Assert.True(r.GetProperty("floor").GetDouble() > 0, r.ToString());
        });
        string table = File.ReadAllText(md);
        Assert.Contains("| stage | precision | ours | floor | ours/floor | PyTorch |", table);
        Assert.Contains("AMX: ", table);
    }

    [Fact]
    public void SyntheticCheckpointOpensStrictlyWithDrawnValuesAndValidCrcs()
    {
        string ckpt = SyntheticModel.Ensure(_work, ModelGeometry.Quick.WithLayers(3, null, null, null), 5, TextWriter.Null);
        var c = Med2E3Checkpoint.Open(ckpt);                                  // strict: every key and shape checked
        Assert.Equal(3, c.LlmConfig.NumHiddenLayers);
        Assert.Equal(30522, c.BertConfig.VocabSize);

        float[] w = c.Llm.Weights["model.layers.2.mlp.down_proj.weight"].ToFloat32();
        float[] gain = c.Llm.Weights["model.layers.2.input_layernorm.weight"].ToFloat32();
        Assert.Equal(0, w.Average(), 0.002);
        Assert.Equal(0.02, Math.Sqrt(w.Average(v => (double)v * v)), 0.002);
        Assert.Equal(1, gain.Average(), 0.01);
        Assert.Contains(w, v => v != 0);

        // The same geometry and seed is the cached folder; another seed is another folder with other values.
        Assert.Equal(ckpt, SyntheticModel.Ensure(_work, ModelGeometry.Quick.WithLayers(3, null, null, null), 5, TextWriter.Null));
        string other = SyntheticModel.Ensure(_work, ModelGeometry.Quick.WithLayers(3, null, null, null), 6, TextWriter.Null);
        Assert.NotEqual(ckpt, other);
        Assert.NotEqual(w, Med2E3Checkpoint.Open(other).Llm.Weights["model.layers.2.mlp.down_proj.weight"].ToFloat32());

        // Every entry's CRC-32 in the zip directory is that of its bytes (computed here bit by bit) ...
        string bin = Path.Combine(ckpt, "llm", "pytorch_model.bin");
        Assert.Empty(CrcMismatches(File.ReadAllBytes(bin)));
        // ... and the comparison can fail: one flipped data byte is caught.
        byte[] bytes = File.ReadAllBytes(bin);
        bytes[bytes.Length / 2] ^= 0x40;
        Assert.Single(CrcMismatches(bytes));
    }

    private static List<string> CrcMismatches(byte[] file)
    {
        var bad = new List<string>();
        using var zip = new ZipArchive(new MemoryStream(file), ZipArchiveMode.Read);
        foreach (var entry in zip.Entries)
        {
            using var s = entry.Open();
            var data = new MemoryStream();
            s.CopyTo(data);
            if (BitwiseCrc32(data.ToArray()) != entry.Crc32)
            {
                bad.Add(entry.FullName);
            }
        }
        return bad;
    }

    private static uint BitwiseCrc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }
        return ~crc;
    }
}
