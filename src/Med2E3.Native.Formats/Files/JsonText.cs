using System.Text.Json;

namespace Med2E3.Native.Formats.Files;

/// <summary>
/// Parses the JSON files of a checkpoint or a data set and checks, once, that every string and property name is
/// readable text: System.Text.Json accepts invalid UTF-8 and unpaired surrogate escapes (<c>"\ud800"</c>) at parse time
/// and only fails later, when the value is read, with an untyped <see cref="InvalidOperationException"/>. After
/// <see cref="Parse"/> every <c>GetString()</c> and property name of the document succeeds.
/// </summary>
public static class JsonText
{
    /// <summary>
    /// Parses <paramref name="json"/> (which must stay unchanged while the document is used) and checks its text.
    /// </summary>
    /// <param name="json">The file's bytes.</param>
    /// <param name="options">Parser options (depth, comments, trailing commas).</param>
    /// <param name="error">Makes the typed exception for a problem, e.g. <c>p =&gt; new CheckpointFormatException(path, p)</c>.</param>
    /// <exception cref="Exception">Whatever <paramref name="error"/> makes: the JSON is malformed or holds invalid text.</exception>
    public static JsonDocument Parse(ReadOnlyMemory<byte> json, JsonDocumentOptions options, Func<string, Exception> error)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, options);
        }
        catch (JsonException e)
        {
            throw error($"invalid JSON ({InputText.Bounded(InputText.OneLine(e.Message))})");
        }
        try
        {
            CheckText(doc.RootElement, "$", error);
        }
        catch
        {
            doc.Dispose();
            throw;
        }
        return doc;
    }

    private static void CheckText(JsonElement e, string path, Func<string, Exception> error)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                if (!Readable(e))
                {
                    throw error($"the string at {path} is not valid text (invalid UTF-8 or an unpaired surrogate escape)");
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in e.EnumerateArray())
                {
                    CheckText(item, $"{path}[{i++}]", error);
                }
                break;
            case JsonValueKind.Object:
                int n = 0;
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = p.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw error($"property name #{n} of {path} is not valid text (invalid UTF-8 or an unpaired " +
                                    "surrogate escape)");
                    }
                    CheckText(p.Value, path.Length > 400 ? path : $"{path}.{InputText.Bounded(name)}", error);
                    n++;
                }
                break;
        }
    }

    private static bool Readable(JsonElement e)
    {
        try
        {
            _ = e.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
