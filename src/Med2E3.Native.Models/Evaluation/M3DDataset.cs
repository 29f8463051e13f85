using System.Globalization;
using System.Text;
using System.Text.Json;
using Med2E3.Native.Tokenizers;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>A reference answer of the official answers file (<c>id</c>, <c>answer</c>, <c>answer_choice</c>, <c>question_type</c>).</summary>
public sealed record M3DAnswer(int Index, string? Id, string Answer, string? AnswerChoice, string? QuestionType);

/// <summary>
/// Readers and writers for the M3D evaluation files: the data file (a JSON list of items), the official answers
/// file, and the outputs file <c>[{"idx": i, "outputs": text}]</c> that the reference inference writes.
/// Unknown fields are ignored; missing or mistyped required fields throw <see cref="M3DDataException"/>.
/// </summary>
public static class M3DDataset
{
    /// <summary>Reads a data file: required <c>vision3d</c>, <c>question</c>, <c>conversations</c> (with at least one
    /// human message); optional <c>id</c>, <c>question_type</c>, <c>answer_choice</c>, <c>answer</c>.</summary>
    public static List<M3DItem> Load(string path) =>
        ReadObjects(path, (index, e) =>
        {
            var vision = ReadVision3D(path, index, e);
            string question = RequiredString(path, index, e, "question");
            var conversations = ReadConversations(path, index, e);
            return new M3DItem(index, OptionalText(path, index, e, "id"), vision, question, conversations,
                OptionalText(path, index, e, "question_type"), OptionalString(path, index, e, "answer_choice"),
                OptionalString(path, index, e, "answer"));
        });

    /// <summary>Reads the official answers file: required <c>answer</c>; optional <c>id</c>,
    /// <c>answer_choice</c>, <c>question_type</c>.</summary>
    public static List<M3DAnswer> LoadAnswers(string path) =>
        ReadObjects(path, (index, e) => new M3DAnswer(index, OptionalText(path, index, e, "id"),
            RequiredString(path, index, e, "answer"), OptionalString(path, index, e, "answer_choice"),
            OptionalText(path, index, e, "question_type")));

    /// <summary>Reads an outputs file <c>[{"idx": i, "outputs": text}]</c>, in file order.</summary>
    public static List<string> LoadOutputs(string path) =>
        ReadObjects(path, (index, e) => RequiredString(path, index, e, "outputs"));

    /// <summary>Writes <c>[{"idx": i, "outputs": text}, …]</c>, the format of the reference inference.</summary>
    public static void WriteOutputs(string path, IReadOnlyList<string> outputs)
    {
        using PendingFile file = AtomicFile.Begin(path);
        using (var w = new Utf8JsonWriter(file.Stream))
        {
            WriteOutputs(w, outputs);
        }
        file.Commit();
    }

    private static void WriteOutputs(Utf8JsonWriter w, IReadOnlyList<string> outputs)
    {
        w.WriteStartArray();
        for (int i = 0; i < outputs.Count; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("idx", i);
            w.WriteString("outputs", outputs[i]);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    // Reads a JSON list whose items must all be objects, turning each (with its index) into a T, in file order.
    private static List<T> ReadObjects<T>(string path, Func<int, JsonElement, T> read)
    {
        using var doc = ReadArray(path);
        var result = new List<T>();
        int index = 0;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new M3DDataException(path, $"item {index}: expected an object, found {Kind(e)}");
            }

            result.Add(read(index, e));
            index++;
        }

        return result;
    }

    private static JsonDocument ReadArray(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new M3DDataException(path, $"cannot read the file ({InputText.OneLine(e.Message)})", e);
        }

        JsonDocument doc = JsonText.Parse(bytes, default, problem => new M3DDataException(path, problem));

        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            var kind = Kind(doc.RootElement);
            doc.Dispose();
            throw new M3DDataException(path, $"expected a JSON list of items, found {kind}");
        }

        return doc;
    }

    private static IReadOnlyList<string> ReadVision3D(string path, int index, JsonElement item)
    {
        if (!item.TryGetProperty("vision3d", out var v))
        {
            throw new M3DDataException(path, index, "vision3d", "is missing");
        }

        if (v.ValueKind == JsonValueKind.String)
        {
            return [NonEmpty(path, index, "vision3d", v.GetString()!)];
        }

        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0
            && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
        {
            return [.. v.EnumerateArray().Select(x => NonEmpty(path, index, "vision3d", x.GetString()!))];
        }

        throw new M3DDataException(path, index, "vision3d",
            $"must be a path or a non-empty list of paths, found {Kind(v)}");
    }

    private static List<ChatMessage> ReadConversations(string path, int index, JsonElement item)
    {
        if (!item.TryGetProperty("conversations", out var c))
        {
            throw new M3DDataException(path, index, "conversations", "is missing");
        }

        if (c.ValueKind != JsonValueKind.Array || c.GetArrayLength() == 0)
        {
            throw new M3DDataException(path, index, "conversations", $"must be a non-empty list, found {Kind(c)}");
        }

        var messages = new List<ChatMessage>();
        int m = 0;
        foreach (var msg in c.EnumerateArray())
        {
            string field = $"conversations[{m}]";
            if (msg.ValueKind != JsonValueKind.Object)
            {
                throw new M3DDataException(path, index, field, $"must be an object, found {Kind(msg)}");
            }

            if (!msg.TryGetProperty("from", out var from) || from.ValueKind != JsonValueKind.String)
            {
                throw new M3DDataException(path, index, field + ".from", "is missing or not a string");
            }

            if (!msg.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.String)
            {
                throw new M3DDataException(path, index, field + ".value", "is missing or not a string");
            }

            messages.Add(new ChatMessage(from.GetString()!, value.GetString()!));
            m++;
        }

        if (!messages.Any(x => x.From == "human"))
        {
            throw new M3DDataException(path, index, "conversations", "has no message from \"human\"");
        }

        return messages;
    }

    private static string RequiredString(string path, int index, JsonElement item, string field)
    {
        if (!item.TryGetProperty(field, out var v))
        {
            throw new M3DDataException(path, index, field, "is missing");
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            throw new M3DDataException(path, index, field, $"must be a string, found {Kind(v)}");
        }

        return v.GetString()!;
    }

    private static string? OptionalString(string path, int index, JsonElement item, string field)
    {
        if (!item.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw new M3DDataException(path, index, field, $"must be a string, found {Kind(v)}");
    }

    // A string or a number, kept as its text ("3" for 3).
    private static string? OptionalText(string path, int index, JsonElement item, string field)
    {
        if (!item.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => throw new M3DDataException(path, index, field, $"must be a string or a number, found {Kind(v)}"),
        };
    }

    private static string NonEmpty(string path, int index, string field, string value) =>
        value.Length > 0 ? value : throw new M3DDataException(path, index, field, "holds an empty path");

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };
}
