using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// <c>generate</c> end to end, in-process, on the embedded demo (the golden fixture's tiny checkpoint and input volume):
/// the answer must be the reference implementation's greedy ids, decoded.
/// </summary>
public class GenerateTests
{
    static long[] GoldenIds => Read<long>("output.generated_ids");

    static float[] GoldenSliceScores => Read<float>("output.slice_scores");

    static T[] Read<T>(string name) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(
            DemoAssetsTests.ReadSafetensor(Path.Combine(CliRunner.FixtureDir, "golden.safetensors"), name)).ToArray();

    static string GoldenAnswer =>
        Phi3Tokenizer.Load(Path.Combine(CliRunner.FixtureDir, "checkpoint")).Decode(GoldenIds.Select(i => (int)i));

    [Fact]
    public void DemoRunsOnTheCtPhantomAndChecksTheReferenceOnTheReferenceInput()
    {
        var r = CliRunner.Run("generate", "--demo", "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal("", r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.EndsWith(SampleVolumes.DemoFileName, root.GetProperty("volume").GetString());
        Assert.True(root.GetProperty("matches_reference").GetBoolean());
        Assert.Equal(GoldenIds.Length, root.GetProperty("token_ids").GetArrayLength());
        Assert.Equal(8, root.GetProperty("slice_scores").GetArrayLength());
        Assert.Empty(root.GetProperty("warnings").EnumerateArray());
    }

    [Fact]
    public void DemoOnTheReferenceInputIsTheGoldenGreedyDecode()
    {
        var reference = DemoAssets.Extract().ReferenceVolumePath;
        var r = CliRunner.Run("generate", "--demo", "--volume", reference, "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal("", r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(GoldenIds, root.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(GoldenAnswer, root.GetProperty("answer").GetString());
        Assert.True(root.GetProperty("matches_reference").GetBoolean());
        float[] scores = [.. root.GetProperty("slice_scores").EnumerateArray().Select(e => e.GetSingle())];
        Assert.Equal(GoldenSliceScores.Length, scores.Length);
        for (int i = 0; i < scores.Length; i++)
            Assert.True(Math.Abs(scores[i] - GoldenSliceScores[i]) < 1e-4, $"slice {i}: {scores[i]} vs {GoldenSliceScores[i]}");
    }

    [Fact]
    public void DemoStreamsTheAnswerAndSaysTheWeightsAreRandom()
    {
        var r = CliRunner.Run("generate", "--demo");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal(GenerateCommand.Printable(GoldenAnswer) + Environment.NewLine, r.Out);
        Assert.Contains("RANDOM weights", r.Err);
        Assert.Contains("the generated text is meaningless", r.Err);
        Assert.Contains($"{GoldenIds.Length} tokens (length), ", r.Err);
        Assert.Contains(" tokens/s", r.Err);
        Assert.Contains($"On the reference run's input (volume.npy), the token ids [{string.Join(' ', GoldenIds)}] are exactly those "
            + "of the PyTorch reference run of this model.", r.ErrLines);
    }

    [Fact]
    public void JsonHasTheDocumentedShape()
    {
        var r = CliRunner.Run("generate", "--demo", "--json", "--max-new-tokens", "3");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(
            ["answer", "token_ids", "stop_reason", "prompt_length", "slice_scores", "device", "dtype", "checkpoint", "volume",
             "question", "demo", "matches_reference", "decoding", "timings_ms", "tokens_per_second", "warnings"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["mode", "max_new_tokens", "temperature", "top_p", "seed"],
            root.GetProperty("decoding").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["load", "read_volume", "vision", "prefill", "decode", "total"],
            root.GetProperty("timings_ms").EnumerateObject().Select(p => p.Name));
        Assert.Equal(3, root.GetProperty("token_ids").GetArrayLength());
        Assert.Equal("length", root.GetProperty("stop_reason").GetString());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.Equal(225, root.GetProperty("prompt_length").GetInt32()); // fixture.json prompt_embedded_length
        Assert.True(root.GetProperty("demo").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("matches_reference").ValueKind); // 3 tokens: not the reference run
        Assert.Equal("greedy", root.GetProperty("decoding").GetProperty("mode").GetString());
        foreach (var t in root.GetProperty("timings_ms").EnumerateObject())
            Assert.True(t.Value.GetDouble() >= 0, t.Name);
        Assert.True(root.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Array, root.GetProperty("warnings").ValueKind);
        Assert.Equal(1f, root.GetProperty("slice_scores").EnumerateArray().Sum(e => e.GetSingle()), 1e-4f);
    }

    [Fact]
    public void SamplingWithASeedIsRepeatable()
    {
        string[] args = ["generate", "--demo", "--json", "--temperature", "0.8", "--top-p", "0.9", "--seed", "11"];
        var a = CliRunner.Run(args);
        var b = CliRunner.Run(args);
        Assert.True(a.ExitCode == ExitCodes.Ok, a.ToString());
        using var da = JsonDocument.Parse(a.Out);
        using var db = JsonDocument.Parse(b.Out);
        Assert.Equal(da.RootElement.GetProperty("token_ids").ToString(), db.RootElement.GetProperty("token_ids").ToString());
        Assert.Equal("sampling", da.RootElement.GetProperty("decoding").GetProperty("mode").GetString());
    }

    [Fact]
    public void ExplainWritesAValidPng()
    {
        using var tmp = new CliRunner.TempDir();
        string png = tmp.File("slices.png");
        var r = CliRunner.Run("generate", "--demo", "--explain", png);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains($"slice scores drawn to {png}", r.Err);

        byte[] bytes = File.ReadAllBytes(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        var chunks = new List<string>();
        var idat = new MemoryStream();
        int width = 0, height = 0;
        for (int at = 8; at < bytes.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(bytes, at + 4, 4);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at + 8 + length));
            Assert.Equal(Crc32(bytes.AsSpan(at + 4, 4 + length)), crc);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at + 8));
                height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at + 12));
            }
            if (type == "IDAT") idat.Write(bytes, at + 8, length);
            chunks.Add(type);
            at += 12 + length;
        }
        Assert.Equal("IHDR", chunks[0]);
        Assert.Equal("IEND", chunks[^1]);
        Assert.True(width > 0 && height > 0);
        idat.Position = 0;
        using var inflate = new ZLibStream(idat, CompressionMode.Decompress);
        var pixels = new MemoryStream();
        inflate.CopyTo(pixels);
        Assert.True(pixels.Length >= (long)height * (1 + width * 3), $"{pixels.Length} bytes of pixel rows for {width}×{height}");
    }

    /// <summary>CRC-32 (ISO 3309, the PNG chunk checksum), bit by bit.</summary>
    static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void ExplainIntoAMissingFolderIsAnOutputError()
    {
        using var tmp = new CliRunner.TempDir();
        string png = Path.Combine(tmp.Path, "no-such-folder", "x.png");
        var r = CliRunner.Run("generate", "--demo", "--explain", png);
        Assert.True(r.ExitCode == ExitCodes.OutputFailed, r.ToString());
        Assert.Contains($"med2e3: {png}: folder {Path.GetDirectoryName(png)} does not exist", r.ErrLines);
    }

    [Fact]
    public void DemoModelOnACtVolumeResizesToTheCheckpointImgSize()
    {
        // The 32×64×64 CT phantom (int16 HU, NIfTI, gzip) is windowed, min–max scaled, cropped and resized to the
        // 8×32×32 that the tiny checkpoint's vision3d_model/config.json asks for.
        using var tmp = new CliRunner.TempDir();
        string nifti = SampleVolumes.WriteDemo(tmp.Path);
        var r = CliRunner.Run("generate", "--demo", "--volume", nifti, "--window", "-160,240", "--verbose",
            "--max-new-tokens", "4");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("format:      NIfTI-1, int16 stored 64×64×32 (i, j, k)", r.Err);
        Assert.Contains("orientation: stored RAS (from the sform) → canonical LPI", r.Err);
        Assert.Contains("intensity:   window [-160, 240], then min–max [-160, 240] → [0, 1]", r.Err);
        Assert.Contains("crop box:    [0:32, 12:54, 4:60] of 32×64×64 (D, H, W)", r.Err);
        Assert.Contains("model input: 8×32×32", r.Err);
        Assert.Contains("4 tokens (length)", r.Err);
    }
}
