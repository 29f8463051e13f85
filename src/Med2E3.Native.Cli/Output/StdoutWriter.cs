using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Cli.Output;

/// <summary>
/// The process's stdout for the commands: a write that fails (a full device such as <c>/dev/full</c>, a closed file
/// descriptor) becomes an <see cref="OutputFileException"/> naming "stdout", so it gets exit code 6 and one line on
/// stderr like any other output that cannot be written.
/// </summary>
public sealed class StdoutWriter(TextWriter inner) : TextWriter
{
    /// <summary>The writer every call goes to (normally <see cref="Console.Out"/>).</summary>
    public TextWriter Inner { get; } = inner;

    public override Encoding Encoding => Inner.Encoding;

    public override void Write(char value) => Guard(() => Inner.Write(value));

    public override void Write(string? value) => Guard(() => Inner.Write(value));

    public override void Write(char[] buffer, int index, int count) => Guard(() => Inner.Write(buffer, index, count));

    public override void WriteLine(string? value) => Guard(() => Inner.WriteLine(value));

    public override void WriteLine() => Guard(Inner.WriteLine);

    public override void Flush() => Guard(Inner.Flush);

    private static void Guard(Action write)
    {
        try
        {
            write();
        }
        catch (IOException e) when (e is not OutputFileException)
        {
            throw OutputFileException.From("stdout", e);
        }
        catch (UnauthorizedAccessException e)
        {
            // What .NET reports for a closed file descriptor 1.
            throw new OutputFileException("stdout", "cannot write: stdout is closed or not writable", e);
        }
    }
}
