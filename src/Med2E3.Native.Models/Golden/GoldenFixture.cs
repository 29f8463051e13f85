using System.Text.Json;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Models.Golden;

/// <summary>A golden fixture folder is missing a file or a field, or a file is malformed.</summary>
public sealed class GoldenFixtureException(string path, string problem) : InputFileException(path, problem);

/// <summary>
/// A golden fixture in the layout of <c>tests/data/med2e3-tiny</c>: <c>checkpoint/</c> (the released checkpoint
/// layout), <c>text_tokenizer/vocab.txt</c>, <c>golden.safetensors</c> (inputs, every intermediate output, logits,
/// greedy ids, loss, gradients) and <c>fixture.json</c> (question, answer, prompts, tokenizer test vectors).
/// </summary>
public sealed class GoldenFixture
{
    private readonly JsonElement _meta;

    private GoldenFixture(string root, StateDict golden, JsonElement meta)
    {
        Root = root;
        Golden = golden;
        _meta = meta;
    }

    public string Root { get; }

    public string CheckpointDir => Path.Combine(Root, "checkpoint");

    public string BertVocabPath => Path.Combine(Root, "text_tokenizer", "vocab.txt");

    public string GoldenPath => Path.Combine(Root, "golden.safetensors");

    public string MetaPath => Path.Combine(Root, "fixture.json");

    /// <summary>Every tensor of golden.safetensors.</summary>
    public StateDict Golden { get; }

    public string Question => String("question");

    public string Answer => String("answer");

    public string GenerationPrompt => String("generation_prompt");

    public string TrainingPrompt => String("training_prompt");

    /// <summary>New tokens of the golden greedy generation (fixture.json max_new_tokens).</summary>
    public int MaxNewTokens => !_meta.TryGetProperty("max_new_tokens", out var e) ? Golden["output.generated_ids"].Shape[0]
        : e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int n) && n > 0 ? n
        : throw new GoldenFixtureException(MetaPath, $"field 'max_new_tokens' is {InputText.Json(e)}; allowed: a positive integer");

    /// <summary>Opens <paramref name="directory"/>; a missing file throws <see cref="GoldenFixtureException"/>.</summary>
    public static GoldenFixture Open(string directory)
    {
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root)) throw new GoldenFixtureException(root, "fixture folder not found");
        string meta = Path.Combine(root, "fixture.json");
        string golden = Path.Combine(root, "golden.safetensors");
        if (!File.Exists(meta) && LooksLikeCheckpoint(root))
        {
            string parent = Path.GetDirectoryName(root) ?? root;
            throw new GoldenFixtureException(root, File.Exists(Path.Combine(parent, "fixture.json"))
                ? $"is the fixture's checkpoint folder; pass the fixture folder that holds it ({parent})"
                : "is a checkpoint folder, not a golden fixture (a fixture holds fixture.json, golden.safetensors and checkpoint/)");
        }
        foreach (string f in new[] { meta, golden })
        {
            if (!File.Exists(f)) throw new GoldenFixtureException(f, "file not found");
        }
        if (!Directory.Exists(Path.Combine(root, "checkpoint")))
        {
            throw new GoldenFixtureException(Path.Combine(root, "checkpoint"), "checkpoint folder not found");
        }
        byte[] bytes = FileBytes.Read(meta, 64L << 20, "a fixture file", problem => new GoldenFixtureException(meta, problem));
        using var doc = JsonText.Parse(bytes, default, problem => new GoldenFixtureException(meta, problem));
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new GoldenFixtureException(meta, "not a JSON object");
        }
        return new GoldenFixture(root, SafetensorsReader.Read(golden), doc.RootElement.Clone());
    }

    /// <summary>A checkpoint folder in the release layout (what a fixture's checkpoint/ holds): llm/ and vision3d_model/.</summary>
    private static bool LooksLikeCheckpoint(string dir) =>
        Directory.Exists(Path.Combine(dir, "llm")) && Directory.Exists(Path.Combine(dir, "vision3d_model"));

    /// <summary>A golden tensor as floats; a missing key throws <see cref="GoldenFixtureException"/>.</summary>
    public float[] Floats(string key) => Tensor(key).ToFloat32();

    /// <summary>A golden integer tensor.</summary>
    public long[] Longs(string key) => Tensor(key).ToInt64();

    public WeightTensor Tensor(string key) =>
        Golden.TryGetValue(key, out var t) ? t : throw new GoldenFixtureException(GoldenPath, $"no tensor '{key}'");

    public bool Has(string key) => Golden.ContainsKey(key);

    /// <summary>The tokenizer table <paramref name="name"/> (string → ids) of fixture.json, in file order.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> IdTable(string name)
    {
        if (!TryTable(name, out var table)) return [];
        return [.. table.EnumerateObject().Select(p => (p.Name,
            p.Value.ValueKind == JsonValueKind.Array && p.Value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out _))
                ? p.Value.EnumerateArray().Select(v => v.GetInt32()).ToArray()
                : throw new GoldenFixtureException(MetaPath, $"tokenizers.{name}[{InputText.Quote(p.Name)}] is not a list of integers")))];
    }

    /// <summary>The tokenizer table <paramref name="name"/> (string → string) of fixture.json, in file order.</summary>
    public IReadOnlyList<(string Text, string Value)> StringTable(string name)
    {
        if (!TryTable(name, out var table)) return [];
        return [.. table.EnumerateObject().Select(p => (p.Name, p.Value.ValueKind == JsonValueKind.String
            ? p.Value.GetString()!
            : throw new GoldenFixtureException(MetaPath, $"tokenizers.{name}[{InputText.Quote(p.Name)}] is not a string")))];
    }

    private bool TryTable(string name, out JsonElement table)
    {
        table = default;
        return _meta.TryGetProperty("tokenizers", out var t) && t.ValueKind == JsonValueKind.Object &&
               t.TryGetProperty(name, out table) && table.ValueKind == JsonValueKind.Object;
    }

    private string String(string field) =>
        _meta.TryGetProperty(field, out var e) && e.ValueKind == JsonValueKind.String
            ? e.GetString()!
            : throw new GoldenFixtureException(MetaPath, $"field '{field}' missing or not a string");
}
