using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Med2E3.Native.Cli.Output;

/// <summary>The JSON settings of every <c>--json</c> document and <c>batch --out</c> file: snake_case, indented.</summary>
public static class Json
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Write<T>(TextWriter writer, T document)
    {
        writer.WriteLine(JsonSerializer.Serialize(document, Options));
        writer.Flush();
    }
}
