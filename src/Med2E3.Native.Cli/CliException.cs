namespace Med2E3.Native.Cli;

/// <summary>
/// A failure the command itself detects (a usage error, a missing file or folder, a bad item of a data file): a
/// one-line message naming the file and the problem, and the exit code that classifies it. Failures the library
/// detects arrive as its own typed exceptions; <see cref="Failure.Classify"/> maps both the same way for every
/// command, and <see cref="Program.Run"/> prints the line on stderr (the stack trace only with --verbose).
/// </summary>
public sealed class CliException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    public static CliException BadInput(string message, Exception? inner = null) => new(ExitCodes.BadInput, message, inner);

    public static CliException Checkpoint(string message, Exception? inner = null) => new(ExitCodes.Checkpoint, message, inner);

    public static CliException Device(string message, Exception? inner = null) => new(ExitCodes.DeviceUnavailable, message, inner);

    public static CliException Output(string message, Exception? inner = null) => new(ExitCodes.OutputFailed, message, inner);

    public static CliException NotAvailable(string message, Exception? inner = null) => new(ExitCodes.NotAvailable, message, inner);

    /// <summary>The first line of a message, trimmed.</summary>
    internal static string OneLine(string message) => Formats.Files.InputText.OneLine(message);
}
