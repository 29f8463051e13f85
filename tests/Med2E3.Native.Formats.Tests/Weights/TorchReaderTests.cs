using System.Buffers.Binary;
using System.IO.Compression;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tests.Weights;

/// <summary>The PyTorch zip reader on generated files: views, storages, compression, and hostile input.</summary>
public class TorchReaderTests(ITestOutputHelper log)
{
    private static float[] Seq(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [InlineData(CompressionLevel.NoCompression)]
    [InlineData(CompressionLevel.Optimal)]
    public void ContiguousTensorsRoundTrip(CompressionLevel level)
    {
        using var dir = new TempDir();
        float[] a = Seq(12, 1);
        float[] b = Seq(5, 2);
        new TorchZipBuilder().AddF32("a.weight", [3, 4], a).AddF32("b.bias", [5], b).Write(dir.File("m.bin"), null, level);
        StateDict sd = TorchCheckpointReader.Read(dir.File("m.bin"));
        Assert.Equal(["a.weight", "b.bias"], sd.Keys);
        Assert.Equal([3, 4], sd["a.weight"].Shape);
        Assert.Equal(a, sd["a.weight"].ToFloat32());
        Assert.Equal(b, sd["b.bias"].ToFloat32());
    }

    [Fact]
    public void StorageOffsetAndStridesAreHonoured()
    {
        using var dir = new TempDir();
        float[] storage = Seq(20, 3);
        var bytes = new byte[80];
        for (int i = 0; i < 20; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), storage[i]);
        }
        // t = storage[2:14].view(3, 4).t(): shape (4, 3), stride (1, 4), offset 2. u shares the storage.
        new TorchZipBuilder()
            .Storage("s", bytes)
            .View("t", "FloatStorage", "s", 20, 2, [4, 3], [1, 4])
            .View("u", "FloatStorage", "s", 20, 5, [2, 2], [2, 1])
            .Write(dir.File("v.bin"));
        StateDict sd = TorchCheckpointReader.Read(dir.File("v.bin"));
        float[] t = sd["t"].ToFloat32();
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(storage[2 + i * 1 + j * 4], t[i * 3 + j]);
            }
        }
        Assert.Equal(new[] { storage[5], storage[6], storage[7], storage[8] }, sd["u"].ToFloat32());
        // The reader copies only the tensor's own bytes, not the whole storage.
        Assert.Equal(48, sd["t"].Data.Length);
    }

    [Fact]
    public void ArchivePrefixIsFoundWhateverItsName()
    {
        using var dir = new TempDir();
        new TorchZipBuilder { Archive = "some_other_name" }.AddF32("x", [2], [1f, 2f]).Write(dir.File("p.bin"));
        Assert.Equal([1f, 2f], TorchCheckpointReader.Read(dir.File("p.bin"))["x"].ToFloat32());
    }

    private CheckpointFormatException Refused(byte[] pickle, out string file, out string marker)
    {
        using var dir = new TempDir();
        file = dir.File("evil.bin");
        marker = dir.File("pwned");
        new TorchZipBuilder().AddF32("ok", [1], [1f]).Write(file, pickle);
        string f = file;
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => TorchCheckpointReader.Read(f));
        log.WriteLine(e.GetType().Name + ": " + e.Message);
        return e;
    }

    [Fact]
    public void OsSystemReduceIsRefusedBeforeExecution()
    {
        string markerPath = Path.Combine(Path.GetTempPath(), "med2e3-pwned-" + Guid.NewGuid().ToString("N"));
        byte[] pickle = new PickleWriter().Op(0x80).Byte(2)
            .Global("os", "system").Unicode("touch " + markerPath).Op(0x85).Op((byte)'R').Op((byte)'.').ToArray();
        var e = Refused(pickle, out string file, out _);
        var unsafeEx = Assert.IsType<UnsafePickleException>(e);
        Assert.Equal("os.system", unsafeEx.GlobalName);
        Assert.Equal(file, e.FilePath);
        Assert.StartsWith(file + ": ", e.Message);
        Assert.Contains("'os.system'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(markerPath));
    }

    [Fact]
    public void ForbiddenGlobalInsideAnOtherwiseValidStateDictIsRefused()
    {
        // A valid tensor entry first, then a value built by builtins.eval (protocol-4 STACK_GLOBAL spelling).
        byte[] tensorPart = new TorchZipBuilder().AddF32("ok", [1], [1f]).Pickle();
        var p = new PickleWriter().Raw(tensorPart[..^2]) // drop SETITEMS + STOP
            .Unicode("evil").ShortUnicode("builtins").ShortUnicode("eval").Op(0x93)
            .Unicode("1+1").Op(0x85).Op((byte)'R').Op((byte)'u').Op((byte)'.');
        var e = Assert.IsType<UnsafePickleException>(Refused(p.ToArray(), out _, out _));
        Assert.Equal("builtins.eval", e.GlobalName);
    }

    [Theory]
    [InlineData((byte)'i', "opcode 0x69")]  // INST: builds arbitrary objects
    [InlineData((byte)0x81, "opcode 0x81")] // NEWOBJ
    public void ObjectBuildingOpcodesAreRefused(byte op, string expected)
    {
        byte[] pickle = new PickleWriter().Op(0x80).Byte(2).Op(op).Raw("os\nsystem\n"u8.ToArray()).Op((byte)'.').ToArray();
        Assert.Contains(expected, Refused(pickle, out _, out _).Message);
    }

    [Fact]
    public void TruncatedPickleIsReported()
    {
        byte[] full = new TorchZipBuilder().AddF32("ok", [1], [1f]).Pickle();
        Assert.Contains("truncated", Refused(full[..(full.Length / 2)], out _, out _).Message);
    }

    [Fact]
    public void TruncatedZipIsReported()
    {
        using var dir = new TempDir();
        byte[] original = File.ReadAllBytes(FixturePaths.Component("vision2d_connector"));
        foreach (int keep in new[] { original.Length / 2, original.Length - 10, 3 })
        {
            string path = dir.File($"cut{keep}.bin");
            File.WriteAllBytes(path, original[..keep]);
            var e = Assert.ThrowsAny<CheckpointFormatException>(() => TorchCheckpointReader.Read(path));
            log.WriteLine(e.Message);
            Assert.Equal(path, e.FilePath);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void CorruptedPickleBytesFailTheChecksum()
    {
        using var dir = new TempDir();
        byte[] bytes = File.ReadAllBytes(FixturePaths.Component("vision2d_connector"));
        int at = bytes.AsSpan().IndexOf("_connector.0.weight"u8);
        bytes[at] = (byte)'X';
        File.WriteAllBytes(dir.File("crc.bin"), bytes);
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => TorchCheckpointReader.Read(dir.File("crc.bin")));
        Assert.Contains("CRC-32", e.Message);
    }

    private CheckpointFormatException BadView(string storageClass, long numel, int storageBytes, long offset,
        long[] size, long[] stride)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.bin");
        new TorchZipBuilder().Storage("0", new byte[storageBytes]).View("w", storageClass, "0", numel, offset, size, stride)
            .Write(path);
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => TorchCheckpointReader.Read(path));
        log.WriteLine(e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    [Fact]
    public void StorageShorterThanItsDeclaredSizeIsRefused()
    {
        var e = BadView("FloatStorage", 16, 40, 0, [4, 4], [4, 1]);
        Assert.Contains("holds 40 bytes, but 16 F32 elements need 64", e.Message);
    }

    [Fact]
    public void ViewPastTheEndOfItsStorageIsRefused()
    {
        var e = BadView("FloatStorage", 10, 40, 0, [4, 4], [4, 1]);
        Assert.Contains("reaches element 15, but its storage has only 10", e.Message);
        e = BadView("BFloat16Storage", 16, 32, 1, [4, 4], [4, 1]);
        Assert.Contains("reaches element 16", e.Message);
    }

    [Fact]
    public void NegativeAndHugeShapesAreRefused()
    {
        Assert.Contains("invalid dimension -1", BadView("FloatStorage", 4, 16, 0, [-1, 4], [4, 1]).Message);
        Assert.Contains("invalid dimension 1099511627776",
            BadView("FloatStorage", 4, 16, 0, [1L << 40, 1], [1, 1]).Message);
        Assert.Contains("overflows",
            BadView("FloatStorage", 4, 16, 0, [1L << 30, 1L << 30, 1L << 30], [1, 1, 1]).Message);
        Assert.Contains("storage has only 4",
            BadView("FloatStorage", 4, 16, 0, [100000, 100000], [100000, 1]).Message);
        Assert.Contains("negative stride", BadView("FloatStorage", 4, 16, 3, [4], [-1]).Message);
        Assert.Contains("negative storage offset", BadView("FloatStorage", 4, 16, -1, [1], [1]).Message);
        Assert.Contains("storage size overflows", BadView("FloatStorage", long.MaxValue / 2, 16, 0, [1], [1]).Message);
    }

    [Fact]
    public void MissingStorageEntryIsReported()
    {
        using var dir = new TempDir();
        string path = dir.File("m.bin");
        new TorchZipBuilder().View("w", "FloatStorage", "7", 4, 0, [4], [1]).Write(path);
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => TorchCheckpointReader.Read(path));
        Assert.Contains("storage 'archive/data/7' is missing", e.Message);
    }

    [Fact]
    public void NonZipAndLegacyFilesAreNamedAsSuch()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("legacy.bin"), [0x80, 0x02, 0x8a, 0x0a]);
        Assert.Contains("legacy", Assert.ThrowsAny<CheckpointFormatException>(
            () => TorchCheckpointReader.Read(dir.File("legacy.bin"))).Message);
        File.WriteAllText(dir.File("text.bin"), "hello world, not a checkpoint");
        Assert.Contains("not a zip file", Assert.ThrowsAny<CheckpointFormatException>(
            () => TorchCheckpointReader.Read(dir.File("text.bin"))).Message);
    }

    [Fact]
    public void NonTensorValuesAreRefused()
    {
        byte[] pickle = new PickleWriter().Op(0x80).Byte(2).Op((byte)'}').Unicode("epoch").Int(3).Op((byte)'s')
            .Op((byte)'.').ToArray();
        Assert.Contains("'epoch' is not a tensor", Refused(pickle, out _, out _).Message);
    }
}

public class Zip64Tests
{
    [Fact]
    public void Zip64CentralDirectoryWithAlignedDataIsRead()
    {
        using var dir = new TempDir();
        string path = dir.File("z64.bin");
        // Rewrite a fixture checkpoint entry by entry into a zip64 archive.
        using (var src = System.IO.Compression.ZipFile.OpenRead(FixturePaths.Component("vision3d_connector")))
        {
            var entries = src.Entries.Select(e =>
            {
                using var s = e.Open();
                var ms = new MemoryStream();
                s.CopyTo(ms);
                return (e.FullName, ms.ToArray());
            }).ToList();
            Zip64Writer.Write(path, entries);
        }
        StateDict a = TorchCheckpointReader.Read(FixturePaths.Component("vision3d_connector"));
        StateDict b = TorchCheckpointReader.Read(path);
        Assert.Equal(a.Keys, b.Keys);
        foreach (WeightTensor t in a.Tensors)
        {
            Assert.True(t.Data.Span.SequenceEqual(b[t.Name].Data.Span), t.Name);
        }
    }
}

/// <summary>
/// Pickles produced by CPython's own pickler (protocols 2 and 4) for an OrderedDict state dict with
/// <c>_metadata</c> (BUILD), a shared storage, a transposed view with an offset and an nn.Parameter
/// (<c>_rebuild_parameter</c>); torch's globals were stand-ins with the same module and names.
/// </summary>
public class PythonPickleTests
{
    private const string Protocol2 =
        "gAJjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgMAAAAbGF5ZXIud2VpZ2h0cQJjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3Rl" +
        "bnNvcl92MgpxAygoWAcAAABzdG9yYWdlcQRjdG9yY2gKRmxvYXRTdG9yYWdlCnEFWAEAAAAwcQZYAwAAAGNwdXEHSxR0cQhRSwJLBEsD" +
        "hnEJSwFLBIZxColoAClScQt0cQxScQ1YCwAAAGxheWVyLmFsaWFzcQ5oAygoaARoBWgGaAdLFHRxD1FLBUsCSwKGcRBLAksBhnERiWgA" +
        "KVJxEnRxE1JxFFgFAAAAcGFyYW1xFWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfcGFyYW1ldGVyCnEWaAMoKGgEaAVYAQAAADFxF2gHSwN0" +
        "cRhRSwBLA4VxGUsBhXEaiWgAKVJxG3RxHFJxHYhoAClScR6HcR9ScSB1fXEhWAkAAABfbWV0YWRhdGFxImgAKVJxIyhYAAAAAHEkfXEl" +
        "WAcAAAB2ZXJzaW9ucSZLAXNYBQAAAGxheWVycSd9cShoJksBc3VzYi4=";

    private const string Protocol4 =
        "gASVZgEAAAAAAACMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpQojAxsYXllci53ZWlnaHSUjAx0b3JjaC5fdXRpbHOUjBJf" +
        "cmVidWlsZF90ZW5zb3JfdjKUk5QoKIwHc3RvcmFnZZSMBXRvcmNolIwMRmxvYXRTdG9yYWdllJOUjAEwlIwDY3B1lEsUdJRRSwJLBEsD" +
        "hpRLAUsEhpSJaAIpUpR0lFKUjAtsYXllci5hbGlhc5RoBygoaAhoC2gMaA1LFHSUUUsFSwJLAoaUSwJLAYaUiWgCKVKUdJRSlIwFcGFy" +
        "YW2UaAWMEl9yZWJ1aWxkX3BhcmFtZXRlcpSTlGgHKChoCGgLjAExlGgNSwN0lFFLAEsDhZRLAYWUiWgCKVKUdJRSlIhoAilSlIeUUpR1" +
        "fZSMCV9tZXRhZGF0YZRoAilSlCiMAJR9lIwHdmVyc2lvbpRLAXOMBWxheWVylH2UaC1LAXN1c2Iu";

    [Theory]
    [InlineData(Protocol2)]
    [InlineData(Protocol4)]
    public void CPythonPicklesLoad(string base64)
    {
        using var dir = new TempDir();
        float[] s0 = Enumerable.Range(0, 20).Select(i => i * 0.5f - 3f).ToArray();
        float[] s1 = [7f, 8f, 9f];
        static byte[] Bytes(float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
        string path = dir.File("py.bin");
        new TorchZipBuilder().Storage("0", Bytes(s0)).Storage("1", Bytes(s1))
            .Write(path, Convert.FromBase64String(base64));
        StateDict sd = TorchCheckpointReader.Read(path);
        Assert.Equal(["layer.weight", "layer.alias", "param"], sd.Keys);
        Assert.Equal([4, 3], sd["layer.weight"].Shape);
        float[] w = sd["layer.weight"].ToFloat32();
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(s0[2 + i + 4 * j], w[3 * i + j]);
            }
        }
        Assert.Equal(new[] { s0[5], s0[6], s0[7], s0[8] }, sd["layer.alias"].ToFloat32());
        Assert.Equal(s1, sd["param"].ToFloat32());
    }
}
