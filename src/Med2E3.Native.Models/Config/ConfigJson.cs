using System.Globalization;
using System.Text.Json;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Models.Config;

/// <summary>
/// Typed, range-checked access to one JSON object of a config file. Every error is a
/// <see cref="CheckpointConfigException"/> naming the file, the (dotted) field, the value as written in the file
/// (quoted, at most <see cref="InputText.MaxQuoted"/> characters) and what is allowed. JSON <c>null</c> counts as
/// absent. The whole file is checked for unreadable text (invalid UTF-8, unpaired surrogate escapes) when it is
/// parsed, so no later access can fail with an untyped error.
/// </summary>
public sealed class ConfigJson
{
    /// <summary>Largest config file read (the real ones are a few kilobytes).</summary>
    public const long MaxFileBytes = 64L << 20;

    private static readonly JsonDocumentOptions Options = new()
    {
        AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64,
    };

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
        byte[] bytes = FileBytes.Read(path, MaxFileBytes, "a config file", problem => new CheckpointConfigException(path, "", problem));
        return Parse(path, bytes);
    }

    /// <summary>Parses JSON text already in memory; <paramref name="path"/> is used in messages.</summary>
    public static ConfigJson Parse(string path, ReadOnlySpan<byte> json)
    {
        // JsonDocument keeps the bytes it parses, so it gets its own copy.
        JsonDocument doc = JsonText.Parse(json.ToArray(), Options, problem => new CheckpointConfigException(path, "", problem));
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointConfigException(path, "", $"not a JSON object (found {Kind(doc.RootElement)})");
        }
        return new ConfigJson(path, doc.RootElement, "");
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
            : throw Error(field, $"expected an object, found {InputText.Json(e)}");
    }

    // ------------------------------------------------------------------------------------------------ integers

    public int Int(string field) => ToInt(field, Require(field));

    public int Int(string field, int fallback) => TryGet(field, out JsonElement e) ? ToInt(field, e) : fallback;

    public int? OptionalInt(string field) => TryGet(field, out JsonElement e) ? ToInt(field, e) : null;

    /// <summary>A required integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Int(string field, int min, int max) => InRange(field, Require(field), min, max);

    /// <summary>An optional integer in [<paramref name="min"/>, <paramref name="max"/>]; <paramref name="fallback"/> when absent.</summary>
    public int Int(string field, int fallback, int min, int max) =>
        TryGet(field, out JsonElement e) ? InRange(field, e, min, max) : fallback;

    /// <summary>An optional integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int? OptionalInt(string field, int min, int max) =>
        TryGet(field, out JsonElement e) ? InRange(field, e, min, max) : null;

    /// <summary>
    /// The head count of an attention stack of width <paramref name="width"/>: a divisor of the width that leaves a
    /// head width of at most <see cref="ConfigLimits.MaxHeadDim"/>.
    /// </summary>
    public int Heads(string field, int width)
    {
        int heads = Int(field, 1, width);
        if (width % heads != 0)
        {
            throw OutOfRange(field, heads, $"a divisor of hidden_size {width}");
        }
        if (width / heads > ConfigLimits.MaxHeadDim)
        {
            throw OutOfRange(field, heads, $"at least hidden_size / {ConfigLimits.MaxHeadDim}");
        }
        return heads;
    }

    private int InRange(string field, JsonElement e, int min, int max)
    {
        int v = ToInt(field, e);
        return v >= min && v <= max ? v : throw OutOfRange(field, e, Range(min, max));
    }

    // ------------------------------------------------------------------------------------------------ numbers

    public double Double(string field) => ToDouble(field, Require(field));

    public double Double(string field, double fallback) =>
        TryGet(field, out JsonElement e) ? ToDouble(field, e) : fallback;

    public double? OptionalDouble(string field) => TryGet(field, out JsonElement e) ? ToDouble(field, e) : null;

    /// <summary>
    /// An optional finite number for which <paramref name="valid"/> holds (<paramref name="allowed"/> says which, e.g.
    /// "a number &gt; 0 and &lt; 1"); <paramref name="fallback"/> when absent.
    /// </summary>
    public double Number(string field, double fallback, Func<double, bool> valid, string allowed) =>
        TryGet(field, out JsonElement e) ? Checked(field, e, valid, allowed) : fallback;

    /// <summary>As <see cref="Number"/>, null when absent.</summary>
    public double? OptionalNumber(string field, Func<double, bool> valid, string allowed) =>
        TryGet(field, out JsonElement e) ? Checked(field, e, valid, allowed) : null;

    private double Checked(string field, JsonElement e, Func<double, bool> valid, string allowed)
    {
        double v = ToDouble(field, e);
        return double.IsFinite(v) && valid(v) ? v : throw OutOfRange(field, e, allowed);
    }

    // ------------------------------------------------------------------------------------------------ text, flags, lists

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
            _ => throw Error(field, $"expected true or false, found {InputText.Json(e)}"),
        };
    }

    public int[] IntArray(string field, int? length = null) => ToIntArray(field, Require(field), length);

    public int[]? OptionalIntArray(string field, int? length = null) =>
        TryGet(field, out JsonElement e) ? ToIntArray(field, e, length) : null;

    /// <summary>A required array of <paramref name="length"/> integers, each in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int[] IntArray(string field, int length, int min, int max)
    {
        JsonElement e = Require(field);
        int[] values = ToIntArray(field, e, length);
        return values.All(v => v >= min && v <= max) ? values : throw OutOfRange(field, e, $"{length} integers, each {Range(min, max)}");
    }

    /// <summary>An optional array of integers, each in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int[]? OptionalIntArray(string field, int min, int max)
    {
        if (!TryGet(field, out JsonElement e))
        {
            return null;
        }
        int[] values = ToIntArray(field, e, null);
        return values.All(v => v >= min && v <= max) ? values : throw OutOfRange(field, e, $"integers, each {Range(min, max)}");
    }

    /// <summary>A required non-empty array of at most <paramref name="maxLength"/> finite numbers for which <paramref name="valid"/> holds.</summary>
    public double[] DoubleArray(string field, int maxLength, Func<double, bool> valid, string allowed)
    {
        JsonElement e = Require(field);
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw Error(field, $"expected an array of numbers, found {InputText.Json(e)}");
        }
        int n = e.GetArrayLength();
        if (n == 0 || n > maxLength)
        {
            throw Error(field, $"{n} values; allowed: 1 to {maxLength}");
        }
        var values = new double[n];
        int i = 0;
        foreach (JsonElement x in e.EnumerateArray())
        {
            double v = ToDouble($"{field}[{i}]", x);
            values[i++] = double.IsFinite(v) && valid(v) ? v : throw OutOfRange($"{field}[{i - 1}]", x, allowed);
        }
        return values;
    }

    /// <summary>
    /// An integer or a list of integers (e.g. <c>eos_token_id</c>), as an array, each in [<paramref name="min"/>,
    /// <paramref name="max"/>]; empty when absent or null.
    /// </summary>
    public int[] IntOrIntArray(string field, int min, int max)
    {
        if (!TryGet(field, out JsonElement e))
        {
            return [];
        }
        int[] values = e.ValueKind == JsonValueKind.Array ? ToIntArray(field, e, null) : [ToInt(field, e)];
        return values.All(v => v >= min && v <= max) ? values : throw OutOfRange(field, e, Range(min, max));
    }

    // ------------------------------------------------------------------------------------------------ conversions

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
        throw Error(field, $"expected an integer, found {InputText.Json(e)}");
    }

    private double ToDouble(string field, JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double d)
            ? d
            : throw Error(field, $"expected a number, found {InputText.Json(e)}");

    private string ToString(string field, JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Error(field, $"expected a string, found {InputText.Json(e)}");

    private int[] ToIntArray(string field, JsonElement e, int? length)
    {
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw Error(field, $"expected an array of integers, found {InputText.Json(e)}");
        }
        int n = e.GetArrayLength();
        if (length is { } expected && n != expected)
        {
            throw Error(field, $"expected {expected} integers, found {n}");
        }
        var values = new int[n];
        int i = 0;
        foreach (JsonElement x in e.EnumerateArray())
        {
            values[i++] = ToInt(field, x);
        }
        return values;
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string Range(int min, int max) =>
        string.Create(CultureInfo.InvariantCulture, $"{min} to {max}");

    private CheckpointConfigException OutOfRange(string field, JsonElement e, string allowed) =>
        Error(field, $"{InputText.Json(e)} is out of range; allowed: {allowed}");

    /// <summary>A config error for <paramref name="field"/> of this object.</summary>
    public CheckpointConfigException Invalid(string field, string problem) => Error(field, problem);

    /// <summary>
    /// "field 'F': VALUE is out of range; allowed: ALLOWED", with the value as written in the file when the field is
    /// there (else <paramref name="value"/>).
    /// </summary>
    public CheckpointConfigException OutOfRange(string field, object? value, string allowed) =>
        TryGet(field, out JsonElement e)
            ? OutOfRange(field, e, allowed)
            : Error(field, $"{InputText.Quote(Convert.ToString(value, CultureInfo.InvariantCulture))} is out of range; allowed: {allowed}");
}
