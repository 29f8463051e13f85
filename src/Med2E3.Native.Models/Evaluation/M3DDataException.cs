using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>An M3D data, answers or outputs file is missing, not JSON, or an item lacks a required field.</summary>
/// <remarks>The message is one line naming the file, the item index (0-based) and the field where known.</remarks>
public sealed class M3DDataException : InputFileException
{
    public M3DDataException(string path, string problem, Exception? inner = null)
        : base(path, problem, inner)
    {
    }

    public M3DDataException(string path, int itemIndex, string field, string problem)
        : base(path, $"item {itemIndex}: field '{field}' {problem}")
    {
        ItemIndex = itemIndex;
        Field = field;
    }

    public int? ItemIndex { get; }

    public string? Field { get; }
}
