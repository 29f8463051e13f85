using System.Buffers.Binary;
using System.Text;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tests.Weights;

public class SafetensorsTests(ITestOutputHelper log)
{
    [Fact]
    public void FixtureRoundTripsThroughTheWriterBitForBit()
    {
        using var dir = new TempDir();
        foreach (string component in new[] { "llm", "vision3d_model" })
        {
            StateDict original = TorchCheckpointReader.Read(FixturePaths.Component(component));
            string path = dir.File(component + ".safetensors");
            SafetensorsWriter.Write(path, original.Tensors, new Dictionary<string, string> { ["format"] = "pt" });
            StateDict back = SafetensorsReader.Read(path);
            Assert.Equal(original.Keys, back.Keys);
            Assert.Equal("pt", back.Metadata["format"]);
            foreach (WeightTensor t in original.Tensors)
            {
                WeightTensor u = back[t.Name];
                Assert.Equal(t.DType, u.DType);
                Assert.Equal(t.Shape, u.Shape);
                Assert.True(t.Data.Span.SequenceEqual(u.Data.Span), t.Name);
            }
            // Header length is a multiple of 8 and the data section holds exactly the tensors.
            byte[] file = File.ReadAllBytes(path);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
            Assert.Equal(0UL, n % 8);
            Assert.Equal(original.ByteCount, file.Length - 8 - (long)n);
        }
    }

    [Fact]
    public void AllDTypesRoundTrip()
    {
        using var dir = new TempDir();
        var tensors = new List<WeightTensor>();
        var rnd = new Random(5);
        foreach (StorageDType d in Enum.GetValues<StorageDType>())
        {
            var bytes = new byte[6 * d.ElementSize()];
            rnd.NextBytes(bytes);
            if (d == StorageDType.Bool)
            {
                for (int i = 0; i < bytes.Length; i++)
                {
                    bytes[i] &= 1;
                }
            }
            tensors.Add(new WeightTensor("t." + d, d, [2, 3], bytes));
        }
        tensors.Add(WeightTensor.FromFloat32("scalar", [], [3.5f]));
        tensors.Add(WeightTensor.FromFloat32("empty", [0, 4], []));
        SafetensorsWriter.Write(dir.File("all.safetensors"), tensors);
        StateDict back = SafetensorsReader.Read(dir.File("all.safetensors"));
        foreach (WeightTensor t in tensors)
        {
            Assert.Equal(t.DType, back[t.Name].DType);
            Assert.Equal(t.Shape, back[t.Name].Shape);
            Assert.True(t.Data.Span.SequenceEqual(back[t.Name].Data.Span));
        }
        Assert.Equal(3.5, back["scalar"].ToFloat64()[0]);
        Assert.Equal(0, back["empty"].ElementCount);
    }

    [Fact]
    public void ConversionsAgreeWithDirectFormulas()
    {
        var half = new byte[] { 0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C };            // 1, -2, +inf
        Assert.Equal([1f, -2f, float.PositiveInfinity],
            new WeightTensor("h", StorageDType.F16, [3], half).ToFloat32());
        var bf = new byte[] { 0x80, 0x3F, 0x49, 0x40 };                          // 1, 3.140625
        Assert.Equal([1.0, 3.140625], new WeightTensor("b", StorageDType.BF16, [2], bf).ToFloat64());
        var i32 = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(i32, -7);
        BinaryPrimitives.WriteInt32LittleEndian(i32.AsSpan(4), 1 << 30);
        Assert.Equal([-7L, 1L << 30], new WeightTensor("i", StorageDType.I32, [2], i32).ToInt64());
        Assert.Equal([0.0, 1.0], new WeightTensor("q", StorageDType.Bool, [2], new byte[] { 0, 2 }).ToFloat64());
        Assert.Throws<InvalidOperationException>(
            () => WeightTensor.FromFloat32("f", [1], [0.5f]).ToInt64());
    }

    private static string WriteRaw(TempDir dir, string name, string header, int dataBytes, long? lengthField = null)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, lengthField ?? h.Length);
        h.CopyTo(bytes, 8);
        string path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Fails(string path)
    {
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => SafetensorsReader.Read(path));
        log.WriteLine(e.Message);
        Assert.Equal(path, e.FilePath);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void HostileHeadersAreRefused()
    {
        using var dir = new TempDir();
        const string ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Assert.Equal(2, SafetensorsReader.Read(WriteRaw(dir, "ok.safetensors", ok, 8))["a"].ElementCount);

        Assert.Contains("runs past the end of the file",
            Fails(WriteRaw(dir, "len.safetensors", ok, 8, lengthField: 4096)));
        Assert.Contains("exceeds the", Fails(WriteRaw(dir, "huge.safetensors", ok, 8, lengthField: long.MaxValue)));
        File.WriteAllBytes(dir.File("tiny.safetensors"), [1, 2, 3]);
        Assert.Contains("too short", Fails(dir.File("tiny.safetensors")));
        Assert.Contains("invalid JSON", Fails(WriteRaw(dir, "json.safetensors", "{\"a\":{\"dtype\":", 8)));
        Assert.Contains("not a JSON object", Fails(WriteRaw(dir, "arr.safetensors", "[1,2]", 0)));
        Assert.Contains("outside the data section", Fails(WriteRaw(dir, "range.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)));
        Assert.Contains("span 8 bytes", Fails(WriteRaw(dir, "size.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12)));
        Assert.Contains("overlap", Fails(WriteRaw(dir, "overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)));
        Assert.Contains("invalid dimension -2", Fails(WriteRaw(dir, "neg.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)));
        Assert.Contains("overflows", Fails(WriteRaw(dir, "big.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8)));
        Assert.Contains("invalid data_offsets", Fails(WriteRaw(dir, "negoff.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8)));
        Assert.Contains("unsupported dtype 'F8_E4M3'", Fails(WriteRaw(dir, "dtype.safetensors",
            "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2)));
        Assert.Contains("needs dtype", Fails(WriteRaw(dir, "shape.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8)));
    }

    [Fact]
    public void ShardedIndexCombinesShardsAndChecksTheMap()
    {
        using var dir = new TempDir();
        StateDict llm = TorchCheckpointReader.Read(FixturePaths.Component("llm"));
        List<WeightTensor> all = llm.Tensors.ToList();
        SafetensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), all.Take(7));
        SafetensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), all.Skip(7));
        string map = string.Join(",", all.Select((t, i) =>
            $"\"{t.Name}\":\"model-0000{(i < 7 ? 1 : 2)}-of-00002.safetensors\""));
        File.WriteAllText(dir.File("model.safetensors.index.json"),
            "{\"metadata\":{\"total_size\":" + llm.ByteCount + "},\"weight_map\":{" + map + "}}");
        Assert.Equal(dir.File("model.safetensors.index.json"), WeightFiles.Find(dir.Path));
        StateDict back = WeightFiles.Read(dir.File("model.safetensors.index.json"), out WeightFormat format);
        Assert.Equal(WeightFormat.ShardedSafetensors, format);
        Assert.Equal(2, back.Files.Count);
        Assert.Equal(llm.Keys, back.Keys);
        Assert.Equal(llm["lm_head.weight"].ToFloat32(), back["lm_head.weight"].ToFloat32());

        File.WriteAllText(dir.File("bad.index.json"),
            "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}");
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => WeightFiles.Read(dir.File("bad.index.json")));
        Assert.Contains("has no such tensor", e.Message);
        File.WriteAllText(dir.File("escape.safetensors.index.json"), "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
        e = Assert.ThrowsAny<CheckpointFormatException>(() => WeightFiles.Read(dir.File("escape.safetensors.index.json")));
        Assert.Contains("not a plain file name", e.Message);
    }
}
