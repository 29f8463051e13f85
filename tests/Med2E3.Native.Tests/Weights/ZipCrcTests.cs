using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// Every zip entry of tensor data that is read is checked against its CRC-32 from the central directory: a byte
/// flipped inside a tensor's data and a truncated file are refused with a <see cref="CheckpointFormatException"/>
/// naming the file and the entry, never a crash or silently wrong numbers.
/// </summary>
public class ZipCrcTests
{
    private static (string Path, byte[] Bytes, int DataAt) Write(TempDir dir, float[] values)
    {
        string path = dir.File("pytorch_model.bin");
        TorchCheckpointWriter.Write(path,
        [
            WeightTensor.FromFloat32("a", [values.Length], values),
            WeightTensor.FromFloat32("b", [3], [1f, 2f, 3f]),
        ]);
        byte[] bytes = File.ReadAllBytes(path);
        byte[] pattern = WeightTensor.FromFloat32("p", [values.Length], values).Data.ToArray();
        int at = bytes.AsSpan().IndexOf(pattern);
        Assert.True(at > 0, "tensor data not found stored in the archive");
        return (path, bytes, at);
    }

    private static float[] Values(int n)
    {
        var rng = new Random(n);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
    }

    [Fact]
    public void IntactFileReadsTheStoredValues()
    {
        using var dir = new TempDir();
        float[] v = Values(257);
        var (path, _, _) = Write(dir, v);
        StateDict sd = WeightFiles.Read(path);
        Assert.Equal(v, sd.Get("a", 257).ToFloat32());
        Assert.Equal([1f, 2f, 3f], sd.Get("b", 3).ToFloat32());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(511)]
    [InlineData(1027)]
    public void FlippedByteInTensorDataIsRefused(int offset)
    {
        using var dir = new TempDir();
        var (path, bytes, at) = Write(dir, Values(257));
        bytes[at + offset] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        StateDict sd = WeightFiles.Read(path);
        var e = Assert.Throws<CheckpointFormatException>(() => sd.Get("a", 257).ToFloat32());
        Assert.Contains("CRC-32", e.Message);
        Assert.Contains("pytorch_model.bin", e.Message);
        Assert.Contains("data/", e.Message);
        // The other tensor's entry is intact and still reads; the failed one keeps failing.
        Assert.Equal([1f, 2f, 3f], sd.Get("b", 3).ToFloat32());
        Assert.Throws<CheckpointFormatException>(() => sd.Get("a", 257).ToFloat32());
    }

    [Fact]
    public void FileTruncatedInsideTensorDataIsRefused()
    {
        using var dir = new TempDir();
        var (path, bytes, at) = Write(dir, Values(4099));
        File.WriteAllBytes(path, bytes[..(at + 100)]);
        // Either the directory is gone (refused at open) or the read is refused: a typed error naming the file.
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => WeightFiles.Read(path).Get("a", 4099).ToFloat32());
        Assert.Contains("pytorch_model.bin", e.Message);
    }

    [Fact]
    public void MappedBytesAreTheStoredBytes()
    {
        using var dir = new TempDir();
        float[] v = Values(1031);
        var (path, bytes, at) = Write(dir, v);
        StateDict sd = WeightFiles.Read(path);
        byte[] seen = sd.Get("a", 1031).WithStoredBytes(span => span.ToArray());
        Assert.Equal(bytes.AsSpan(at, 1031 * 4).ToArray(), seen);
        Assert.Equal(v, sd.Get("a", 1031).ToFloat32());
    }

    [Fact]
    public void FileTruncatedAfterOpenIsRefusedBeforeItIsMapped()
    {
        using var dir = new TempDir();
        var (path, bytes, at) = Write(dir, Values(4099));
        StateDict sd = WeightFiles.Read(path);                 // directory read while the file was whole
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) f.SetLength(at + 100);
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => sd.Get("a", 4099).WithStoredBytes(span => span.Length));
        Assert.Contains("pytorch_model.bin", e.Message);
    }
}
