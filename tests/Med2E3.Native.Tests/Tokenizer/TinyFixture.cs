using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>Paths and values of the tiny golden fixture (tests/data/med2e3-tiny).</summary>
internal static class TinyFixture
{
    private static readonly Lazy<string> Root = new(FindRoot);
    private static readonly Lazy<JsonElement> Json = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "fixture.json"))).RootElement);

    public static string Dir => Root.Value;

    public static string CheckpointDir => Path.Combine(Dir, "checkpoint");

    public static string BertVocab => Path.Combine(Dir, "text_tokenizer", "vocab.txt");

    public static JsonElement Meta => Json.Value;

    public static JsonElement Tokenizers => Meta.GetProperty("tokenizers");

    /// <summary>The tokenizer test strings, in file order.</summary>
    public static IEnumerable<string> TestStrings =>
        Tokenizers.GetProperty("phi_tokenizer").EnumerateObject().Select(p => p.Name);

    public static int[] Ids(string column, string text) =>
        [.. Tokenizers.GetProperty(column).GetProperty(text).EnumerateArray().Select(e => e.GetInt32())];

    /// <summary>An int64 tensor of golden.safetensors, flattened (8-byte LE header length, JSON header, data).</summary>
    public static long[] GoldenInt64(string name)
    {
        byte[] file = File.ReadAllBytes(Path.Combine(Dir, "golden.safetensors"));
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(file);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength));
        var entry = header.RootElement.GetProperty(name);
        Assert.Equal("I64", entry.GetProperty("dtype").GetString());
        var offsets = entry.GetProperty("data_offsets");
        int begin = 8 + (int)headerLength + offsets[0].GetInt32();
        int end = 8 + (int)headerLength + offsets[1].GetInt32();
        var values = new long[(end - begin) / 8];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(begin + 8 * i));
        }

        return values;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "med2e3-tiny");
            if (File.Exists(Path.Combine(candidate, "fixture.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/data/med2e3-tiny not found above " + AppContext.BaseDirectory);
    }
}
