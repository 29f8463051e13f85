using System.Text.Json;

namespace Med2E3.Native.Tests.Tokenizer;

/// <summary>The real-size tokenizer test data (tests/data/tokenizer): the 32,000-piece model and its oracle ids.</summary>
internal static class TokenizerData
{
    private static readonly Lazy<string> Root = new(FindRoot);
    private static readonly Lazy<Phi3Cases> Cases = new(LoadCases);

    /// <summary>tests/data/tokenizer.</summary>
    public static string Dir => Root.Value;

    /// <summary>The folder of the 32,000-piece model (tokenizer.model, cases.json, tokenizer.json files).</summary>
    public static string Phi3Dir => Path.Combine(Dir, "phi3-32k");

    public static Phi3Cases Phi3 => Cases.Value;

    /// <summary>A temporary copy of the model with <paramref name="files"/> (name → content) beside it.</summary>
    public static string TempCheckpoint(IReadOnlyDictionary<string, string> files)
    {
        string dir = Directory.CreateTempSubdirectory("phi3-32k").FullName;
        File.Copy(Path.Combine(Phi3Dir, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
        foreach (var (name, content) in files)
        {
            File.WriteAllText(Path.Combine(dir, name), content);
        }

        return dir;
    }

    private static Phi3Cases LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Phi3Dir, "cases.json")));
        var root = doc.RootElement;
        var strings = root.GetProperty("strings").EnumerateArray()
            .Select(e => (Kind: e[0].GetString()!, Text: e[1].GetString()!)).ToArray();
        var ids = new Dictionary<string, int[][]>(StringComparer.Ordinal);
        var columns = root.GetProperty("ids")[0].EnumerateObject().Select(p => p.Name).ToArray();
        foreach (string column in columns)
        {
            ids[column] = [.. root.GetProperty("ids").EnumerateArray()
                .Select(e => e.GetProperty(column).EnumerateArray().Select(x => x.GetInt32()).ToArray())];
        }

        var configs = root.GetProperty("configs").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetRawText(), StringComparer.Ordinal);
        return new Phi3Cases(strings, ids, configs);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data", "tokenizer");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/data/tokenizer not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>cases.json: the strings, the oracle ids per column, the tokenizer_config.json variants (raw JSON).</summary>
internal sealed record Phi3Cases((string Kind, string Text)[] Strings, Dictionary<string, int[][]> Ids,
    Dictionary<string, string> Configs);
