namespace Med2E3.Native.Cli.Output;

/// <summary>
/// Prints an answer while it is generated. Each new token id re-decodes the whole answer so far (SentencePiece
/// merges bytes and drops the first word-boundary space, so decoding token by token would be wrong) and writes only
/// the new characters. A trailing U+FFFD means a multi-byte character is still incomplete: it waits for more bytes.
/// </summary>
public sealed class TokenPrinter(Func<IReadOnlyList<int>, string> decode, TextWriter? sink)
{
    readonly List<int> ids = [];
    string printed = "";

    public IReadOnlyList<int> Ids => ids;

    public void Add(int id)
    {
        ids.Add(id);
        string text = decode(ids);
        if (text.EndsWith('\uFFFD')) return;
        Emit(text);
    }

    /// <summary>Writes what is still missing and returns the whole decoded answer.</summary>
    public string Finish()
    {
        string text = decode(ids);
        Emit(text);
        sink?.WriteLine();
        sink?.Flush();
        return text;
    }

    void Emit(string text)
    {
        if (!text.StartsWith(printed, StringComparison.Ordinal)) return; // earlier text changed; wait until it settles
        if (text.Length == printed.Length) return;
        sink?.Write(text[printed.Length..]);
        sink?.Flush();
        printed = text;
    }
}
