namespace Med2E3.Native.Cli;

/// <summary>
/// A failure the user can act on: a one-line message (naming the file and the problem) and the exit code that
/// classifies it. <see cref="Program.Run"/> prints the message on stderr; the stack trace only with --verbose.
/// </summary>
public sealed class CliException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    public static CliException BadInput(string message, Exception? inner = null) => new(ExitCodes.BadInput, message, inner);

    public static CliException Checkpoint(string message, Exception? inner = null) => new(ExitCodes.Checkpoint, message, inner);

    public static CliException Device(string message, Exception? inner = null) => new(ExitCodes.DeviceUnavailable, message, inner);

    public static CliException Output(string message, Exception? inner = null) => new(ExitCodes.OutputFailed, message, inner);

    public static CliException NotAvailable(string message) => new(ExitCodes.NotAvailable, message);

    /// <summary>
    /// Runs one stage of a command and classifies whatever it throws: an exception raised while reading
    /// <paramref name="file"/> becomes a <see cref="CliException"/> with <paramref name="exitCode"/> and a message
    /// that names the file. Errors from the device layer keep their own class (exit code 5).
    /// </summary>
    public static T Guard<T>(int exitCode, string file, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (CliException)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e) when (IsDeviceError(e))
        {
            throw new CliException(ExitCodes.DeviceUnavailable, OneLine(e.Message), e);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not StackOverflowException and not NotImplementedException)
        {
            throw new CliException(exitCode, NameFile(file, e), e);
        }
    }

    /// <summary>Errors raised by the CUDA runtime layer or by a missing native library mean "device unavailable".</summary>
    internal static bool IsDeviceError(Exception e) =>
        e is DllNotFoundException or EntryPointNotFoundException
        || (e.GetType().Namespace ?? "").StartsWith("Med2E3.Native.Runtime", StringComparison.Ordinal)
        || (e.GetType().Namespace ?? "").StartsWith("Med2E3.Native.Interop", StringComparison.Ordinal);

    /// <summary>The exception's first line, prefixed by the file unless the message already names it.</summary>
    internal static string NameFile(string file, Exception e)
    {
        string message = OneLine(e.Message);
        if (e is FileNotFoundException or DirectoryNotFoundException && !File.Exists(file) && !Directory.Exists(file))
            return $"{file}: not found";
        if (e is UnauthorizedAccessException)
            return $"{file}: permission denied";
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(file));
        return message.Contains(name, StringComparison.Ordinal) ? message : $"{file}: {message}";
    }

    internal static string OneLine(string message)
    {
        int nl = message.IndexOfAny(['\r', '\n']);
        return (nl < 0 ? message : message[..nl]).Trim();
    }
}
