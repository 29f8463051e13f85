using System.Diagnostics;
using System.IO.Compression;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// The PyTorch zip writer: round trips through <see cref="TorchCheckpointReader"/>, byte-identical pickles for the
/// fixture files PyTorch wrote, aligned stored entries, and acceptance by Python's <c>zipfile</c> + <c>pickletools</c>.
/// </summary>
public class TorchCheckpointWriterTests(ITestOutputHelper log)
{
    private static readonly string[] Components =
        ["llm", "vision2d_model", "vision2d_connector", "vision3d_model", "vision3d_connector"];

    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [InlineData(StorageDType.F32)]
    [InlineData(StorageDType.BF16)]
    [InlineData(StorageDType.F16)]
    public void RoundTripIsBitExact(StorageDType dtype)
    {
        using var dir = new TempDir();
        int es = dtype.ElementSize();
        // Random bit patterns (NaN payloads, infinities and subnormals included), ranks 0 to 4, an empty tensor.
        int[][] shapes = [[], [7], [3, 5], [2, 3, 4], [2, 1, 3, 2], [0, 4]];
        var tensors = shapes.Select((s, i) =>
        {
            int n = s.Aggregate(1, (a, b) => a * b);
            return new WeightTensor($"block.{i}.weight", dtype, s, RandomBytes(n * es, 17 + i));
        }).ToList();
        string file = dir.File("pytorch_model.bin");
        TorchCheckpointWriter.Write(file, tensors);
        StateDict sd = TorchCheckpointReader.Read(file);
        Assert.Equal(tensors.Select(t => t.Name), sd.Keys);
        foreach (WeightTensor t in tensors)
        {
            Assert.Equal(dtype, sd[t.Name].DType);
            Assert.Equal(t.Shape, sd[t.Name].Shape);
            Assert.Equal(t.Data.ToArray(), sd[t.Name].Data.ToArray());
        }
        AssertStoredAndAligned(file, "pytorch_model/");
    }

    [Fact]
    public void FloatEncodingRoundsToNearestEven()
    {
        float[] v = [1f, -2.5f, 1.00390625f, 1.01171875f, 65504f, float.PositiveInfinity, 3.14159265f, float.NaN];
        WeightTensor bf = WeightTensor.FromFloat32("x", [v.Length], v, StorageDType.BF16);
        WeightTensor h = WeightTensor.FromFloat32("x", [v.Length], v, StorageDType.F16);
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7 in bf16: even is 1. 1 + 3·2^-8 ties up to 1 + 2^-6.
        Assert.Equal([1f, -2.5f, 1f, 1.015625f, 65536f, float.PositiveInfinity, 3.140625f, float.NaN], bf.ToFloat32());
        Assert.Equal(v.Select(x => (float)(Half)x), h.ToFloat32());
    }

    [Fact]
    public void RewritingEachFixtureFileGivesIdenticalTensorsAndPickle()
    {
        using var dir = new TempDir();
        foreach (string component in Components)
        {
            string original = FixturePaths.Component(component);
            StateDict a = TorchCheckpointReader.Read(original);
            string copy = dir.File(component + ".bin");
            TorchCheckpointWriter.Write(copy, a, "pytorch_model");
            StateDict b = TorchCheckpointReader.Read(copy);
            Assert.Equal(a.Keys, b.Keys);
            foreach (WeightTensor t in a.Tensors)
            {
                Assert.Equal(t.DType, b[t.Name].DType);
                Assert.Equal(t.Shape, b[t.Name].Shape);
                Assert.True(t.Data.Span.SequenceEqual(b[t.Name].Data.Span), $"{component}: {t.Name}");
            }
            // The pickle is the one PyTorch wrote, byte for byte.
            Assert.Equal(ReadEntry(original, "pytorch_model/data.pkl"), ReadEntry(copy, "pytorch_model/data.pkl"));
            AssertStoredAndAligned(copy, "pytorch_model/");
            log.WriteLine($"{component}: {a.Count} tensors, {new FileInfo(original).Length} → {new FileInfo(copy).Length} bytes");
        }
    }

    [Fact]
    public void ManyTensorsUseBatchedSetItemsAndLongMemo()
    {
        using var dir = new TempDir();
        // 1001 entries: two SETITEMS batches (1000 + 1, as pickle batches) and memo indices past 255.
        var tensors = Enumerable.Range(0, 1001)
            .Select(i => WeightTensor.FromFloat32($"p{i}", [1], [i], StorageDType.F32)).ToList();
        string file = dir.File("many.bin");
        TorchCheckpointWriter.Write(file, tensors);
        StateDict sd = TorchCheckpointReader.Read(file);
        Assert.Equal(1001, sd.Count);
        Assert.Equal([1000f], sd["p1000"].ToFloat32());
        Assert.Equal([255f], sd["p255"].ToFloat32());
    }

    [Fact]
    public void DuplicateNamesAreRefused()
    {
        using var dir = new TempDir();
        var t = WeightTensor.FromFloat32("a", [1], [1f]);
        Assert.Throws<ArgumentException>(() => TorchCheckpointWriter.Write(dir.File("d.bin"), [t, t]));
        Assert.False(File.Exists(dir.File("d.bin")));
    }

    [Fact]
    public void PythonZipfileAndPickletoolsAcceptTheFile()
    {
        string? python = FindPython();
        if (python is null)
        {
            Assert.Skip("python3 is not on PATH");
        }
        using var dir = new TempDir();
        var tensors = new[]
        {
            WeightTensor.FromFloat32("a.weight", [3, 4], Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray(),
                StorageDType.BF16),
            WeightTensor.FromFloat32("a.bias", [3], [1f, 2f, 3f], StorageDType.F16),
            WeightTensor.FromFloat32("scale", [], [2.5f]),
        };
        string file = dir.File("pytorch_model.bin");
        TorchCheckpointWriter.Write(file, tensors);
        const string script = """
            import sys, zipfile, pickletools, pickle, io
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            names = z.namelist()
            assert names[0] == "pytorch_model/data.pkl", names
            for i in z.infolist():
                assert i.compress_type == 0
            data = z.read("pytorch_model/data.pkl")
            pickletools.dis(data, out=io.StringIO())
            seen = []
            class G:
                def __init__(self, m, n): self.m, self.n = m, n
                def __call__(self, *a): return (self.m, self.n, a)
            class U(pickle.Unpickler):
                def find_class(self, m, n):
                    return G(m, n)
                def persistent_load(self, pid):
                    seen.append(pid); return pid
            d = U(io.BytesIO(data)).load()
            assert list(d) == ["a.weight", "a.bias", "scale"], list(d)
            assert [p[1].n for p in seen] == ["BFloat16Storage", "HalfStorage", "FloatStorage"], seen
            assert [p[4] for p in seen] == [12, 3, 1]
            for p in seen:
                assert len(z.read("pytorch_model/data/" + p[2])) == p[4] * (4 if p[1].n == "FloatStorage" else 2)
            assert d["a.weight"][2][2:4] == ((3, 4), (4, 1)), d["a.weight"]
            assert d["scale"][2][2:4] == ((), ())
            assert z.read("pytorch_model/byteorder") == b"little" and z.read("pytorch_model/version") == b"3\n"
            print("ok", len(names))
            """;
        string scriptFile = dir.File("check.py");
        File.WriteAllText(scriptFile, script.Replace("\r", ""));
        var psi = new ProcessStartInfo(python, [scriptFile, file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        log.WriteLine(stdout + stderr);
        Assert.True(p.ExitCode == 0, stderr);
        Assert.StartsWith("ok", stdout);
    }

    private static string? FindPython() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(d => Path.Combine(d, "python3")).FirstOrDefault(File.Exists);

    private static byte[] ReadEntry(string zipPath, string name)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        using Stream s = zip.GetEntry(name)!.Open();
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Every entry stored (no compression), CRC-valid, and each storage's data 64-byte aligned in the file.</summary>
    private static void AssertStoredAndAligned(string file, string prefix)
    {
        byte[] bytes = File.ReadAllBytes(file);
        using ZipArchive zip = ZipFile.OpenRead(file);
        foreach (ZipArchiveEntry e in zip.Entries)
        {
            Assert.Equal(e.Length, e.CompressedLength);
            using Stream s = e.Open();
            s.CopyTo(Stream.Null);                      // the framework checks the CRC at the end of the stream
        }
        int found = 0;
        for (int off = 0; off + 30 < bytes.Length; off++)
        {
            if (bytes[off] != 0x50 || bytes[off + 1] != 0x4b || bytes[off + 2] != 3 || bytes[off + 3] != 4)
            {
                continue;
            }
            int nameLen = BitConverter.ToUInt16(bytes, off + 26);
            int extraLen = BitConverter.ToUInt16(bytes, off + 28);
            string name = System.Text.Encoding.UTF8.GetString(bytes, off + 30, nameLen);
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }
            Assert.Equal(0, (off + 30 + nameLen + extraLen) % TorchCheckpointWriter.DataAlignment);
            found++;
            off += 29 + nameLen + extraLen;
        }
        Assert.Equal(zip.Entries.Count, found);
    }
}
