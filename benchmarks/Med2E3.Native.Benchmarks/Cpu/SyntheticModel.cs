using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// Every size of a Med-2E3 network the CPU model benchmark builds: 3D ViT (M3D-CLIP), SigLIP, BERT, Phi-3, and the
/// stage inputs (prefill length, decode context). <see cref="Released"/> is the released geometry (spec §0, §2–§6);
/// <see cref="Quick"/> a tiny one that runs end to end in seconds.
/// </summary>
public sealed record ModelGeometry(
    string Name,
    int[] ImgSize, int[] PatchSize, int V3Hidden, int V3Heads, int V3Mlp, int V3Layers,
    int V2Image, int V2Patch, int V2Hidden, int V2Heads, int V2Intermediate, int V2Layers,
    int BertHidden, int BertHeads, int BertLayers, int BertIntermediate, int BertPositions, int BertVocab,
    int LlmHidden, int LlmHeads, int LlmIntermediate, int LlmLayers, int LlmVocab, int MaxPositions,
    int OriginalMaxPositions, int PrefillTokens, int DecodeContext)
{
    /// <summary>The released Med-2E3: 3D ViT 768×12, SigLIP-L/16 @256, BERT-base, Phi-3-mini (32 × 3072).</summary>
    public static ModelGeometry Released { get; } = new(
        "released",
        [32, 256, 256], [4, 16, 16], 768, 12, 3072, 12,
        256, 16, 1024, 16, 4096, 24,
        768, 12, 12, 3072, 512, 30522,
        3072, 32, 8192, 32, 32064, 131072, 4096,
        PrefillTokens: 572, DecodeContext: 600);

    /// <summary>A few layers of small width (the vocabularies stay real: the tokenizers are the real-size ones).</summary>
    public static ModelGeometry Quick { get; } = new(
        "quick",
        [8, 32, 32], [2, 8, 8], 48, 4, 96, 2,
        32, 8, 40, 4, 80, 2,
        64, 1, 2, 128, 64, 30522,
        64, 4, 96, 2, 32064, 4096, 256,
        PrefillTokens: 40, DecodeContext: 48);

    public int Slices => ImgSize[0];

    public int[] Grid => [ImgSize[0] / PatchSize[0], ImgSize[1] / PatchSize[1], ImgSize[2] / PatchSize[2]];

    public int Patches3D => Grid[0] * Grid[1] * Grid[2];

    public int PatchVector => PatchSize[0] * PatchSize[1] * PatchSize[2];

    /// <summary>3D tokens after the 2×2×2 pooling.</summary>
    public int Pooled3DTokens => Patches3D / 8;

    public int SigLipTokens => (V2Image / V2Patch) * (V2Image / V2Patch);

    public int LlmHeadDim => LlmHidden / LlmHeads;

    /// <summary>Visual tokens the LLM receives: pooled 3D tokens, then the fused 2D tokens.</summary>
    public int VisualTokens => Pooled3DTokens + SigLipTokens;

    /// <summary>This geometry with the layer counts replaced where given.</summary>
    public ModelGeometry WithLayers(int? llm, int? vit, int? siglip, int? bert) => this with
    {
        LlmLayers = llm ?? LlmLayers,
        V3Layers = vit ?? V3Layers,
        V2Layers = siglip ?? V2Layers,
        BertLayers = bert ?? BertLayers,
        Name = Name + (llm is null && vit is null && siglip is null && bert is null ? ""
            : $" (layers: llm {llm ?? LlmLayers}, vit {vit ?? V3Layers}, siglip {siglip ?? V2Layers}, bert {bert ?? BertLayers})"),
    };

    /// <summary>A one-line description for the table header.</summary>
    public string Describe() =>
        $"{Name}: volume {string.Join("×", ImgSize)}, 3D ViT {V3Hidden}×{V3Layers} ({Patches3D + 1} tokens), "
        + $"SigLIP {V2Hidden}×{V2Layers} @{V2Image} ({Slices} slices × {SigLipTokens} tokens), BERT {BertHidden}×{BertLayers}, "
        + $"Phi-3 {LlmHidden}×{LlmLayers} (mlp {LlmIntermediate}, vocab {LlmVocab}); prefill {PrefillTokens}, decode context {DecodeContext}";
}

/// <summary>
/// Writes a complete Med-2E3 checkpoint folder in the released layout (spec §8: args, llm, vision2d_model,
/// vision2d_connector, vision3d_model with the BERT vocab beside it, vision3d_connector with text_mlp, the Phi-3
/// tokenizer files) for any <see cref="ModelGeometry"/>, every weight bf16 and seeded: matrices and biases
/// N(0, 0.02), norm gains 1 + N(0, 0.02), so no activation overflows. The key list is the one the loader expects
/// (<see cref="ExpectedKeys"/> of the configs written), unused tensors included, so the files have the released size.
/// Tensors are generated and written one at a time (the 8.7 GB of the released geometry are never in memory), in
/// PyTorch's zip format with correct CRC-32s, zip64 past 4 GiB.
/// <para>The folder is cached under the work directory by a hash of the geometry and seed
/// (<c>ckpt-&lt;hash&gt;</c>), written beside its final name and renamed when complete, so reruns reuse it.</para>
/// </summary>
public static class SyntheticModel
{
    /// <summary>Bumped when the written content changes, so old caches are not reused.</summary>
    private const int FormatVersion = 1;

    private const float Std = 0.02f;

    /// <summary>Where the benchmark's real-size tokenizer files are copied (beside med2e3-bench.dll).</summary>
    public static string DataDir => Path.Combine(AppContext.BaseDirectory, "cpu-model-data");

    /// <summary>The cached checkpoint folder of <paramref name="g"/>/<paramref name="seed"/> under <paramref name="work"/>, written when absent.</summary>
    public static string Ensure(string work, ModelGeometry g, int seed, TextWriter log)
    {
        string key = CacheKey(g, seed);
        string root = Path.Combine(Path.GetFullPath(work), "ckpt-" + key);
        if (File.Exists(Path.Combine(root, ".complete")))
        {
            log.WriteLine($"checkpoint: {root} (cached)");
            return root;
        }
        Directory.CreateDirectory(work);
        string staging = $"{root}.tmp-{Environment.ProcessId}";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long bytes = Write(staging, g, seed);
        File.WriteAllText(Path.Combine(staging, "geometry.json"), JsonSerializer.Serialize(g, JsonOptions));
        File.WriteAllText(Path.Combine(staging, ".complete"), "");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);   // an incomplete folder from an interrupted run
        }
        Directory.Move(staging, root);
        log.WriteLine($"checkpoint: wrote {root} ({bytes / 1e9:F2} GB of weights) in {clock.Elapsed.TotalSeconds:F1} s");
        return root;
    }

    /// <summary>First 12 hex digits of SHA-256 over the geometry, the seed and the writer version.</summary>
    public static string CacheKey(ModelGeometry g, int seed)
    {
        string text = JsonSerializer.Serialize(g with { Name = "" }, JsonOptions) + $"|seed {seed}|v{FormatVersion}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Writes the checkpoint folder <paramref name="ckpt"/>; returns the weight bytes written.</summary>
    public static long Write(string ckpt, ModelGeometry g, int seed)
    {
        foreach (string d in new[] { "args", "llm", "vision2d_model", "vision2d_connector", "vision3d_model", "vision3d_connector" })
        {
            Directory.CreateDirectory(Path.Combine(ckpt, d));
        }
        File.Copy(Path.Combine(DataDir, "tokenizer.model"), Path.Combine(ckpt, "tokenizer.model"), true);
        File.Copy(Path.Combine(DataDir, "tokenizer_config.json"), Path.Combine(ckpt, "tokenizer_config.json"), true);
        File.Copy(Path.Combine(DataDir, "vocab.txt"), Path.Combine(ckpt, "vision3d_model", "vocab.txt"), true);

        JsonObject args = DemoConfig("args");
        args["hidden_size"] = g.LlmHidden;
        args["vision2d_connector_config"] = new JsonObject { ["input_dim"] = g.V2Hidden, ["output_dim"] = g.LlmHidden };
        args["vision3d_connector_config"] = new JsonObject { ["input_dim"] = g.V3Hidden, ["output_dim"] = g.LlmHidden };
        Save(ckpt, "args", args);

        JsonObject llm = DemoConfig("llm");
        llm["vocab_size"] = g.LlmVocab;
        llm["hidden_size"] = g.LlmHidden;
        llm["intermediate_size"] = g.LlmIntermediate;
        llm["num_hidden_layers"] = g.LlmLayers;
        llm["num_attention_heads"] = g.LlmHeads;
        llm["num_key_value_heads"] = g.LlmHeads;
        llm["max_position_embeddings"] = g.MaxPositions;
        llm["original_max_position_embeddings"] = g.OriginalMaxPositions;
        llm["bos_token_id"] = 1;
        llm["eos_token_id"] = 32000;
        llm["pad_token_id"] = 32000;
        var rope = llm["rope_parameters"]!.AsObject();
        int half = g.LlmHeadDim / 2;
        rope["short_factor"] = new JsonArray([.. Enumerable.Range(0, half).Select(i => (JsonNode)(1.0 + 0.01 * i))]);
        rope["long_factor"] = new JsonArray([.. Enumerable.Range(0, half).Select(i => (JsonNode)(1.0 + 0.5 * i))]);
        rope["original_max_position_embeddings"] = g.OriginalMaxPositions;
        Save(ckpt, "llm", llm);

        JsonObject v2 = DemoConfig("vision2d_model");
        v2["hidden_size"] = g.V2Hidden;
        v2["intermediate_size"] = g.V2Intermediate;
        v2["num_hidden_layers"] = g.V2Layers;
        v2["num_attention_heads"] = g.V2Heads;
        v2["image_size"] = g.V2Image;
        v2["patch_size"] = g.V2Patch;
        Save(ckpt, "vision2d_model", v2);

        JsonObject v3 = DemoConfig("vision3d_model");
        v3["img_size"] = new JsonArray([.. g.ImgSize.Select(x => (JsonNode)x)]);
        v3["patch_size"] = new JsonArray([.. g.PatchSize.Select(x => (JsonNode)x)]);
        v3["hidden_size"] = g.V3Hidden;
        v3["mlp_dim"] = g.V3Mlp;
        v3["num_layers"] = g.V3Layers;
        v3["num_heads"] = g.V3Heads;
        v3["max_text_len"] = g.BertPositions;
        v3["vocab_size"] = g.BertVocab;
        Save(ckpt, "vision3d_model", v3);

        var llmConfig = Phi3Config.Load(Path.Combine(ckpt, "llm", "config.json"));
        var v2Config = SiglipVisionConfig.Load(Path.Combine(ckpt, "vision2d_model", "config.json"));
        var v3Config = M3dClipConfig.Load(Path.Combine(ckpt, "vision3d_model", "config.json"));
        var bert = new BertConfig
        {
            SourcePath = "",
            VocabSize = g.BertVocab,
            HiddenSize = g.BertHidden,
            NumHiddenLayers = g.BertLayers,
            NumAttentionHeads = g.BertHeads,
            IntermediateSize = g.BertIntermediate,
            MaxPositionEmbeddings = g.BertPositions,
            TypeVocabSize = 2,
        };
        long bytes = 0;
        bytes += WriteBin(Path.Combine(ckpt, "llm", "pytorch_model.bin"), ExpectedKeys.Llm(llmConfig), seed);
        bytes += WriteBin(Path.Combine(ckpt, "vision2d_model", "pytorch_model.bin"),
            [.. ExpectedKeys.Vision2D(v2Config).Select(t => t with { Key = "vision_model." + t.Key })], seed);
        bytes += WriteBin(Path.Combine(ckpt, "vision2d_connector", "pytorch_model.bin"),
            ExpectedKeys.Vision2DConnector(g.V2Hidden, g.LlmHidden), seed);
        bytes += WriteBin(Path.Combine(ckpt, "vision3d_model", "pytorch_model.bin"), ExpectedKeys.Vision3D(v3Config, bert), seed);
        bytes += WriteBin(Path.Combine(ckpt, "vision3d_connector", "pytorch_model.bin"),
            ExpectedKeys.Vision3DConnector(g.V3Hidden, g.LlmHidden, g.BertHidden), seed);
        return bytes;
    }

    private static JsonObject DemoConfig(string dir)
    {
        using var s = DemoAssets.Open($"checkpoint/{dir}/config.json");
        return JsonNode.Parse(s)!.AsObject();
    }

    private static void Save(string ckpt, string dir, JsonObject json) =>
        File.WriteAllText(Path.Combine(ckpt, dir, "config.json"), json.ToJsonString(JsonOptions));

    /// <summary>A norm gain (rank 1, "norm" in its name, a weight): values around 1.</summary>
    private static bool IsNormGain(ExpectedTensor t) =>
        t.Shape.Length == 1 && t.Key.EndsWith(".weight", StringComparison.Ordinal)
        && t.Key.Contains("norm", StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes the tensors as a torch.save zip, data generated per tensor in 1 MiB chunks; returns the data bytes.</summary>
    private static long WriteBin(string path, IReadOnlyList<ExpectedTensor> tensors, int seed)
    {
        // The pickle needs only names, dtypes and shapes: tensors whose memory has the right length and no bytes.
        var headers = tensors.Select(t => new WeightTensor(t.Key, StorageDType.BF16, t.Shape,
            new LengthOnlyMemory(checked((int)(t.Shape.Aggregate(1L, (a, b) => a * b) * 2))).Memory)).ToList();
        byte[] pickle = TorchCheckpointWriter.Pickle(headers);
        string archive = Path.GetFileNameWithoutExtension(path);
        long bytes = 0;
        using (var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        {
            var zip = new StreamingZip(file);
            zip.Add(archive + "/data.pkl", pickle);
            zip.Add(archive + "/.format_version", "1"u8);
            zip.Add(archive + "/.storage_alignment", Encoding.ASCII.GetBytes(TorchCheckpointWriter.DataAlignment.ToString()));
            zip.Add(archive + "/byteorder", "little"u8);
            for (int i = 0; i < tensors.Count; i++)
            {
                ExpectedTensor t = tensors[i];
                long n = headers[i].ElementCount;
                var gen = new Bf16Normal(TensorSeed(seed, t.Key), IsNormGain(t) ? 1f : 0f, Std);
                zip.AddStreamed(archive + "/data/" + i, 2 * n, gen.Fill);
                bytes += 2 * n;
            }
            zip.Add(archive + "/version", "3\n"u8);
            zip.Finish();
        }
        return bytes;
    }

    private static ulong TensorSeed(int seed, string key)
    {
        Span<byte> h = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}/{key}"), h);
        return BinaryPrimitives.ReadUInt64LittleEndian(h);
    }

    /// <summary>Memory of a given length that holds no bytes (only its length is ever read).</summary>
    private sealed class LengthOnlyMemory(int length) : MemoryManager<byte>
    {
        public override Memory<byte> Memory => CreateMemory(length);

        public override Span<byte> GetSpan() => throw new NotSupportedException("a length-only buffer has no bytes");

        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException("a length-only buffer has no bytes");

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }

    /// <summary>
    /// Seeded bf16 draws of mean + std·z, z standard normal: 16 random bits pick one of 65,536 equiprobable
    /// quantiles (a table of Φ⁻¹((i + ½)/65536)), which is exact to bf16 resolution and costs a lookup per value.
    /// </summary>
    private sealed class Bf16Normal
    {
        private static readonly float[] Quantiles = BuildQuantiles();
        private readonly ushort[] _table = new ushort[65536];
        private ulong _state;

        public Bf16Normal(ulong seed, float mean, float std)
        {
            _state = seed | 1;
            for (int i = 0; i < _table.Length; i++)
            {
                _table[i] = ToBf16(mean + std * Quantiles[i]);
            }
        }

        public void Fill(Span<byte> bytes)
        {
            Span<ushort> v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes);
            int i = 0;
            for (; i + 4 <= v.Length; i += 4)
            {
                ulong r = Next();
                v[i] = _table[(int)(r & 0xFFFF)];
                v[i + 1] = _table[(int)((r >> 16) & 0xFFFF)];
                v[i + 2] = _table[(int)((r >> 32) & 0xFFFF)];
                v[i + 3] = _table[(int)(r >> 48)];
            }
            for (; i < v.Length; i++)
            {
                v[i] = _table[(int)(Next() & 0xFFFF)];
            }
        }

        // splitmix64
        private ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15ul;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
            return z ^ (z >> 31);
        }

        private static ushort ToBf16(float f)
        {
            uint u = BitConverter.SingleToUInt32Bits(f);
            u += 0x7fffu + ((u >> 16) & 1u);
            return (ushort)(u >> 16);
        }

        private static float[] BuildQuantiles()
        {
            var q = new float[65536];
            for (int i = 0; i < q.Length; i++)
            {
                q[i] = (float)InverseNormal((i + 0.5) / q.Length);
            }
            return q;
        }

        /// <summary>Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2e-9).</summary>
        private static double InverseNormal(double p)
        {
            double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
            double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
            double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
            double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
            const double low = 0.02425;
            if (p < low)
            {
                double q = Math.Sqrt(-2 * Math.Log(p));
                return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
            }
            if (p > 1 - low)
            {
                double q = Math.Sqrt(-2 * Math.Log(1 - p));
                return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
            }
            double r = p - 0.5, s = r * r;
            return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
        }
    }

    /// <summary>
    /// A stored zip written front to back like PyTorch's writer (each entry's data 64-byte aligned through an "FB"
    /// padding field); a streamed entry's CRC-32 is patched into its local header once its data is written.
    /// </summary>
    private sealed class StreamingZip(FileStream stream)
    {
        private const ushort Utf8Flag = 0x0800;
        private const ushort PaddingFieldId = 0x4246;
        private readonly List<(byte[] Name, uint Crc, long Size, long Offset)> _entries = [];

        public void Add(string name, ReadOnlySpan<byte> data)
        {
            long offset = WriteLocalHeader(name, data.Length, Crc32.Compute(data), out byte[] nameBytes);
            stream.Write(data);
            _entries.Add((nameBytes, Crc32.Compute(data), data.Length, offset));
        }

        /// <summary>An entry of <paramref name="size"/> bytes produced chunk by chunk by <paramref name="fill"/>.</summary>
        public void AddStreamed(string name, long size, Action<Span<byte>> fill)
        {
            long offset = WriteLocalHeader(name, size, 0, out byte[] nameBytes);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            uint crc = 0;
            try
            {
                for (long done = 0; done < size;)
                {
                    int n = (int)Math.Min(1 << 20, size - done);
                    Span<byte> chunk = buffer.AsSpan(0, n);
                    fill(chunk);
                    crc = Crc32.Append(crc, chunk);
                    stream.Write(chunk);
                    done += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            long end = stream.Position;
            Span<byte> c = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(c, crc);
            stream.Position = offset + 14;
            stream.Write(c);
            stream.Position = end;
            _entries.Add((nameBytes, crc, size, offset));
        }

        private long WriteLocalHeader(string name, long size, uint crc, out byte[] nameBytes)
        {
            if (size >= uint.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(size), size, "a zip entry of 4 GiB or more needs zip64 sizes");
            }
            nameBytes = Encoding.UTF8.GetBytes(name);
            long offset = stream.Position;
            long dataStart = offset + 30 + nameBytes.Length + 4;
            int pad = (int)((TorchCheckpointWriter.DataAlignment - dataStart % TorchCheckpointWriter.DataAlignment) % TorchCheckpointWriter.DataAlignment);
            Span<byte> h = stackalloc byte[30];
            h.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], Utf8Flag);
            BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)(4 + pad));
            stream.Write(h);
            stream.Write(nameBytes);
            Span<byte> field = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16LittleEndian(field, PaddingFieldId);
            BinaryPrimitives.WriteUInt16LittleEndian(field[2..], (ushort)pad);
            stream.Write(field);
            stream.Write(new byte[pad]);
            return offset;
        }

        public void Finish()
        {
            long cdStart = stream.Position;
            Span<byte> c = stackalloc byte[46];
            Span<byte> z = stackalloc byte[12];
            foreach ((byte[] name, uint crc, long size, long offset) in _entries)
            {
                bool big = offset >= uint.MaxValue;
                c.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014b50);
                BinaryPrimitives.WriteUInt16LittleEndian(c[6..], (ushort)(big ? 45 : 0));
                BinaryPrimitives.WriteUInt16LittleEndian(c[8..], Utf8Flag);
                BinaryPrimitives.WriteUInt32LittleEndian(c[16..], crc);
                BinaryPrimitives.WriteUInt32LittleEndian(c[20..], (uint)size);
                BinaryPrimitives.WriteUInt32LittleEndian(c[24..], (uint)size);
                BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)name.Length);
                BinaryPrimitives.WriteUInt16LittleEndian(c[30..], (ushort)(big ? 12 : 0));
                BinaryPrimitives.WriteUInt32LittleEndian(c[42..], big ? uint.MaxValue : (uint)offset);
                stream.Write(c);
                stream.Write(name);
                if (big)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(z, 0x0001);
                    BinaryPrimitives.WriteUInt16LittleEndian(z[2..], 8);
                    BinaryPrimitives.WriteInt64LittleEndian(z[4..], offset);
                    stream.Write(z);
                }
            }
            long cdEnd = stream.Position;
            long cdSize = cdEnd - cdStart;
            bool zip64 = cdStart >= uint.MaxValue || cdSize >= uint.MaxValue || _entries.Count >= ushort.MaxValue;
            if (zip64)
            {
                Span<byte> r = stackalloc byte[56];
                r.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(r, 0x06064b50);
                BinaryPrimitives.WriteInt64LittleEndian(r[4..], 44);
                BinaryPrimitives.WriteUInt16LittleEndian(r[12..], 45);
                BinaryPrimitives.WriteUInt16LittleEndian(r[14..], 45);
                BinaryPrimitives.WriteInt64LittleEndian(r[24..], _entries.Count);
                BinaryPrimitives.WriteInt64LittleEndian(r[32..], _entries.Count);
                BinaryPrimitives.WriteInt64LittleEndian(r[40..], cdSize);
                BinaryPrimitives.WriteInt64LittleEndian(r[48..], cdStart);
                stream.Write(r);
                Span<byte> l = stackalloc byte[20];
                l.Clear();
                BinaryPrimitives.WriteUInt32LittleEndian(l, 0x07064b50);
                BinaryPrimitives.WriteInt64LittleEndian(l[8..], cdEnd);
                BinaryPrimitives.WriteUInt32LittleEndian(l[16..], 1);
                stream.Write(l);
            }
            Span<byte> e = stackalloc byte[22];
            e.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
            ushort count = zip64 ? ushort.MaxValue : (ushort)_entries.Count;
            BinaryPrimitives.WriteUInt16LittleEndian(e[8..], count);
            BinaryPrimitives.WriteUInt16LittleEndian(e[10..], count);
            BinaryPrimitives.WriteUInt32LittleEndian(e[12..], zip64 ? uint.MaxValue : (uint)cdSize);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], zip64 ? uint.MaxValue : (uint)cdStart);
            stream.Write(e);
        }
    }

    /// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320), slicing by 8.</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = Build();

        private static uint[] Build()
        {
            var t = new uint[8 * 256];
            for (uint i = 0; i < 256; i++)
            {
                uint c = i;
                for (int k = 0; k < 8; k++)
                {
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                }
                t[i] = c;
            }
            for (int s = 1; s < 8; s++)
            {
                for (int i = 0; i < 256; i++)
                {
                    uint prev = t[(s - 1) * 256 + i];
                    t[s * 256 + i] = (prev >> 8) ^ t[prev & 0xFF];
                }
            }
            return t;
        }

        public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

        public static uint Append(uint crc, ReadOnlySpan<byte> data)
        {
            uint[] t = Table;
            crc = ~crc;
            int i = 0;
            for (; i + 8 <= data.Length; i += 8)
            {
                uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) ^ crc;
                uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]);
                crc = t[7 * 256 + (lo & 0xFF)] ^ t[6 * 256 + ((lo >> 8) & 0xFF)] ^ t[5 * 256 + ((lo >> 16) & 0xFF)]
                      ^ t[4 * 256 + (lo >> 24)] ^ t[3 * 256 + (hi & 0xFF)] ^ t[2 * 256 + ((hi >> 8) & 0xFF)]
                      ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            }
            for (; i < data.Length; i++)
            {
                crc = t[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
            }
            return ~crc;
        }
    }
}
