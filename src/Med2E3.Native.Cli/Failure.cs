using Med2E3.Native.Formats.Files;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli;

/// <summary>
/// The one mapping from what a command throws to its exit code and the line printed for it, used by
/// <see cref="Program.Run"/> for every command. The library throws one exception type per kind of failure:
/// <see cref="CheckpointFormatException"/> (checkpoint, configs, tokenizer files: exit 4), <see cref="InputFileException"/>
/// (volumes, data files: 3), <see cref="OutputFileException"/> (outputs, stdout: 6) and the device errors (5); anything
/// else is a bug (70).
/// </summary>
public static class Failure
{
    /// <summary>Longest error line printed; library messages are shorter (they quote at most 200 characters of input).</summary>
    public const int MaxMessageLength = 2000;

    /// <summary>The exit code and the one-line message (without the "med2e3: " prefix) for <paramref name="e"/>.</summary>
    public static (int ExitCode, string Message) Classify(Exception e)
    {
        (int code, string message) = e switch
        {
            CliException c => (c.ExitCode, c.Message),
            OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
            OutputFileException => (ExitCodes.OutputFailed, e.Message),
            CheckpointFormatException => (ExitCodes.Checkpoint, e.Message),
            InputFileException => (ExitCodes.BadInput, e.Message),
            DeviceUnavailableException => (ExitCodes.DeviceUnavailable, e.Message),
            _ when IsDeviceError(e) => (ExitCodes.DeviceUnavailable, "device error: " + e.Message),
            _ => (ExitCodes.Internal, $"internal error: {e.GetType().Name}: {e.Message}"),
        };
        message = InputText.OneLine(message);
        return (code, message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "…");
    }

    /// <summary>Errors of the CUDA runtime layer, a missing native library or an op the device's backend lacks.</summary>
    public static bool IsDeviceError(Exception e) =>
        e is DllNotFoundException or EntryPointNotFoundException or NotSupportedOnBackendException
        || (e.GetType().Namespace ?? "").StartsWith("Med2E3.Native.Runtime", StringComparison.Ordinal)
        || (e.GetType().Namespace ?? "").StartsWith("Med2E3.Native.Interop", StringComparison.Ordinal);
}
