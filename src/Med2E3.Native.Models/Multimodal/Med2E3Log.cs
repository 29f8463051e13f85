using Microsoft.Extensions.Logging;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>The messages <see cref="Med2E3Model"/> logs (source-generated, so a disabled level costs one check).</summary>
internal static partial class Med2E3Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Loaded {Checkpoint} on {Device} ({DType}): {Parameters} parameters in {Seconds:0.00} s, {ResidentBytes} weight bytes resident")]
    public static partial void Loaded(ILogger logger, string checkpoint, string device, string dtype, long parameters, double seconds,
        long residentBytes);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "{Checkpoint}: {Note}")]
    public static partial void CheckpointNote(ILogger logger, string checkpoint, string note);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Volume}: {Warning}")]
    public static partial void VolumeWarning(ILogger logger, string volume, string warning);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug,
        Message = "Generated {Tokens} tokens ({StopReason}): vision {Vision:0.000} s, prefill {Prefill:0.000} s, decode {Decode:0.000} s ({TokensPerSecond:0.0} tokens/s)")]
    public static partial void Generated(ILogger logger, int tokens, string stopReason, double vision, double prefill, double decode, double tokensPerSecond);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Generation cancelled after {Tokens} tokens")]
    public static partial void GenerationCancelled(ILogger logger, int tokens);
}
