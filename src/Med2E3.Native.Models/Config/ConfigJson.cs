using System.Text.Json;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Models.Config;

/// <summary>
/// Typed access to one JSON object of a config file. Every error names the file and the (dotted) field.
/// JSON <c>null</c> counts as absent.
/// </summary>
public sealed class ConfigJson
{
    private readonly JsonElement _root;
    private readonly string _prefix;

    private ConfigJson(string filePath, JsonElement root, string prefix)
    {
        FilePath = filePath;
        _root = root;
        _prefix = prefix;
    }

    /// <summary>The file this object came from.</summary>
    public string FilePath { get; }

    /// <summary>Parses <paramref name="path"/>, which must hold a JSON object.</summary>
    public static ConfigJson Load(string path)
    {
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new CheckpointConfigException(path, "", "file not found");
        }
        try
        {
            return Parse(path, File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CheckpointConfigException(path, "", $"not valid JSON ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>Parses JSON text already in memory; <paramref name="path"/> is used in messages.</summary>
    public static ConfigJson Parse(string path, ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions
        {
            AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64,
        });
        JsonElement root = JsonElement.ParseValue(ref reader);
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointConfigException(path, "", "not a JSON object");
        }
        return new ConfigJson(path, root, "");
    }

    private string Field(string name) => _prefix + name;

    private CheckpointConfigException Error(string field, string problem) => new(FilePath, Field(field), problem);

    /// <summary>True when the field is present and not null.</summary>
    public bool Has(string field) =>
        _root.TryGetProperty(field, out JsonElement e) && e.ValueKind != JsonValueKind.Null;

    private bool TryGet(string field, out JsonElement e) =>
        _root.TryGetProperty(field, out e) && e.ValueKind != JsonValueKind.Null;

    private JsonElement Require(string field) =>
        TryGet(field, out JsonElement e) ? e : throw Error(field, "required but missing");

    /// <summary>A nested object, or null when absent.</summary>
    public ConfigJson? Object(string field)
    {
        if (!TryGet(field, out JsonElement e))
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.Object
            ? new ConfigJson(FilePath, e, Field(field) + ".")
            : throw Error(field, $"expected an object, found {e.ValueKind}");
    }

    public int Int(string field) => ToInt(field, Require(field));

    public int Int(string field, int fallback) => TryGet(field, out JsonElement e) ? ToInt(field, e) : fallback;

    public int? OptionalInt(string field) => TryGet(field, out JsonElement e) ? ToInt(field, e) : null;

    public double Double(string field) => ToDouble(field, Require(field));

    public double Double(string field, double fallback) =>
        TryGet(field, out JsonElement e) ? ToDouble(field, e) : fallback;

    public double? OptionalDouble(string field) => TryGet(field, out JsonElement e) ? ToDouble(field, e) : null;

    public string String(string field) => ToString(field, Require(field));

    public string String(string field, string fallback) =>
        TryGet(field, out JsonElement e) ? ToString(field, e) : fallback;

    public string? OptionalString(string field) => TryGet(field, out JsonElement e) ? ToString(field, e) : null;

    public bool Bool(string field, bool fallback)
    {
        if (!TryGet(field, out JsonElement e))
        {
            return fallback;
        }
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(field, $"expected true or false, found {e.GetRawText()}"),
        };
    }

    public int[] IntArray(string field, int? length = null) => ToIntArray(field, Require(field), length);

    public int[]? OptionalIntArray(string field, int? length = null) =>
        TryGet(field, out JsonElement e) ? ToIntArray(field, e, length) : null;

    public double[] DoubleArray(string field)
    {
        JsonElement e = Require(field);
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw Error(field, $"expected an array of numbers, found {e.ValueKind}");
        }
        return e.EnumerateArray().Select(x => ToDouble(field, x)).ToArray();
    }

    /// <summary>An integer or a list of integers (e.g. <c>eos_token_id</c>), as an array; empty when absent.</summary>
    public int[] IntOrIntArray(string field)
    {
        if (!TryGet(field, out JsonElement e))
        {
            return [];
        }
        return e.ValueKind == JsonValueKind.Array ? ToIntArray(field, e, null) : [ToInt(field, e)];
    }

    private int ToInt(string field, JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt32(out int i))
            {
                return i;
            }
            // Some writers store integers as 4096.0.
            if (e.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue)
            {
                return (int)d;
            }
        }
        throw Error(field, $"expected an integer, found {e.GetRawText()}");
    }

    private double ToDouble(string field, JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double d)
            ? d
            : throw Error(field, $"expected a number, found {e.GetRawText()}");

    private string ToString(string field, JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Error(field, $"expected a string, found {e.GetRawText()}");

    private int[] ToIntArray(string field, JsonElement e, int? length)
    {
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw Error(field, $"expected an array of integers, found {e.GetRawText()}");
        }
        int[] values = e.EnumerateArray().Select(x => ToInt(field, x)).ToArray();
        if (length is { } n && values.Length != n)
        {
            throw Error(field, $"expected {n} integers, found {values.Length}");
        }
        return values;
    }

    /// <summary>Throws a config error for <paramref name="field"/> of this object.</summary>
    public CheckpointConfigException Invalid(string field, string problem) => Error(field, problem);
}
