using System.Buffers.Binary;
using System.Text.Json;
using Med2E3.Native.Models.Demo;

namespace Med2E3.Native.Tests.Cli;

/// <summary>The demo embedded in the Models assembly is the golden fixture's checkpoint and input, byte for byte.</summary>
public class DemoAssetsTests
{
    [Fact]
    public void EmbeddedCheckpointEqualsTheFixture()
    {
        string fixtureCheckpoint = Path.Combine(CliRunner.FixtureDir, "checkpoint");
        var expected = Directory.GetFiles(fixtureCheckpoint, "*", SearchOption.AllDirectories)
            .Select(f => "checkpoint/" + Path.GetRelativePath(fixtureCheckpoint, f).Replace('\\', '/'))
            .Append("text_tokenizer/vocab.txt")
            .Order(StringComparer.Ordinal)
            .ToArray();
        var embedded = DemoAssets.Files.Where(f => f.StartsWith("checkpoint/") || f.StartsWith("text_tokenizer/")).ToArray();
        Assert.Equal(expected, embedded);
        foreach (string file in embedded)
        {
            using var stream = DemoAssets.Open(file);
            using var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            Assert.True(File.ReadAllBytes(Path.Combine(CliRunner.FixtureDir, file)).AsSpan().SequenceEqual(bytes.ToArray()),
                $"{file} differs from tests/data/med2e3-tiny/{file}");
        }
    }

    [Fact]
    public void DemoVolumeIsTheGoldenInputVolume()
    {
        using var stream = DemoAssets.Open("volume.npy");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        byte[] npy = buffer.ToArray();
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(npy.AsSpan(8));
        string header = System.Text.Encoding.ASCII.GetString(npy, 10, headerLength);
        Assert.Contains("'descr': '<f4'", header);
        Assert.Contains("'shape': (1, 8, 32, 32)", header);
        byte[] voxels = npy[(10 + headerLength)..];

        byte[] golden = ReadSafetensor(Path.Combine(CliRunner.FixtureDir, "golden.safetensors"), "input.volume");
        Assert.Equal(golden.Length, voxels.Length);
        Assert.True(golden.AsSpan().SequenceEqual(voxels));
    }

    [Fact]
    public void ManifestMatchesTheFixture()
    {
        var files = DemoAssets.Extract(Path.GetTempPath());
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(CliRunner.FixtureDir, "fixture.json")));
        Assert.Equal(fixture.RootElement.GetProperty("question").GetString(), files.Question);
        Assert.Equal(fixture.RootElement.GetProperty("max_new_tokens").GetInt32(), files.MaxNewTokens);
        byte[] golden = ReadSafetensor(Path.Combine(CliRunner.FixtureDir, "golden.safetensors"), "output.generated_ids");
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(golden).ToArray(),
            files.ReferenceTokenIds.Select(i => (long)i));
        Assert.True(Directory.Exists(files.CheckpointDir));
        Assert.True(File.Exists(Path.Combine(files.CheckpointDir, "llm", "pytorch_model.bin")));
        Assert.True(File.Exists(files.TextVocabPath));
        Assert.True(File.Exists(files.VolumePath));
        Assert.Equal(Models.Input.SampleVolumes.DemoFileName, Path.GetFileName(files.VolumePath));
        Assert.Equal(Models.Input.SampleVolumes.DemoWindow, files.Window);
        Assert.True(File.Exists(files.ReferenceVolumePath));
    }

    [Fact]
    public void ExtractIsIdempotentAndConcurrencySafe()
    {
        using var tmp = new CliRunner.TempDir();
        var roots = Enumerable.Range(0, 4).AsParallel().Select(_ => DemoAssets.Extract(tmp.Path).Root).Distinct().ToArray();
        Assert.Single(roots);
        Assert.Single(Directory.GetDirectories(tmp.Path)); // no staging folder left behind
        Assert.Equal(DemoAssets.Files.Count, Directory.GetFiles(roots[0], "*", SearchOption.AllDirectories).Length - 1);
    }

    /// <summary>Raw bytes of one tensor of a .safetensors file (8-byte header length, JSON header, data).</summary>
    internal static byte[] ReadSafetensor(string path, string name)
    {
        byte[] file = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(file);
        using var header = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        var offsets = header.RootElement.GetProperty(name).GetProperty("data_offsets");
        int begin = 8 + (int)headerLength + offsets[0].GetInt32();
        int end = 8 + (int)headerLength + offsets[1].GetInt32();
        return file[begin..end];
    }
}
