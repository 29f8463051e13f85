using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

// The calls an application makes: load in the background, preprocess a file, stream or array to the checkpoint's
// size, stream the answer. Each wraps the synchronous method of the same name (Load, Preprocess.Run, Generate), so
// there is one code path to read and step through. Threading: see the Med2E3Model summary.
public sealed partial class Med2E3Model
{
    /// <summary>
    /// Loads a checkpoint folder on <see cref="Med2E3LoadOptions.Device"/> on a thread-pool thread: the same load as
    /// <see cref="Load(string, Device, Med2E3LoadOptions?)"/>, reporting each of its <see cref="LoadProgress.StepCount"/>
    /// steps to <paramref name="progress"/>.
    /// Cancellation stops it between steps and frees what was loaded.
    /// </summary>
    /// <exception cref="Formats.Checkpoints.CheckpointFormatException">A file is missing or malformed.</exception>
    /// <exception cref="Weights.CheckpointMismatchException">Keys or shapes disagree with the configs (strict mode).</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static Task<Med2E3Model> LoadAsync(string checkpointDir, Med2E3LoadOptions? options = null,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointDir);
        options ??= new Med2E3LoadOptions();
        Device device = ComputeDevice.Parse(options.Device);
        return Task.Run(() => Load(checkpointDir, device, options, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Preprocessing with this checkpoint's input size (<c>vision3d_model/config.json</c> <c>img_size</c>: 32 × 256 ×
    /// 256 for the released model, 8 × 32 × 32 for the demo) and otherwise the reference's defaults; change it with
    /// <c>with</c> (e.g. <c>model.PreprocessOptions with { Window = (-160, 240) }</c>).
    /// </summary>
    public PreprocessOptions PreprocessOptions => PreprocessOptions.For(Checkpoint.Vision3DConfig);

    /// <summary>
    /// Decoding with this checkpoint's defaults, as the evaluation runs it: greedy, stopping at
    /// <c>&lt;|endoftext|&gt;</c> or when prompt + visual tokens + answer reach llm_max_length (<see cref="MaxLength"/>).
    /// </summary>
    public GenerationOptions GenerationOptions => new() { MaxTotalLength = MaxLength };

    /// <summary>
    /// Reads <paramref name="source"/> and preprocesses it for this model (spec §1.2: optional window, min–max for
    /// NIfTI, crop to the foreground, trilinear resize to <see cref="PreprocessOptions"/>' size, on the model's device):
    /// the (1, 1, D, H, W) input of <see cref="Generate(Tensor, string, GenerationOptions?)"/>,
    /// owned by the caller. The reader's and preprocessing's warnings go to <see cref="Logger"/>.
    /// </summary>
    /// <param name="source">A file, stream, array or volume.</param>
    /// <param name="options">Null = <see cref="PreprocessOptions"/>.</param>
    /// <param name="readOptions">How to read the file (non-finite voxels, size limit); null = the defaults.</param>
    /// <exception cref="VolumeFormatException">The volume cannot be read or used.</exception>
    public Tensor PreprocessVolume(VolumeSource source, PreprocessOptions? options = null, VolumeReadOptions? readOptions = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        Volume volume = source.Read(readOptions);
        options ??= PreprocessOptions;
        using var prepared = Device.Kind == DeviceKind.Cpu
            ? Input.Preprocess.Run(volume, options)
            : Input.Preprocess.Run(volume, Device, options);
        foreach (string warning in prepared.Warnings) Med2E3Log.VolumeWarning(Logger, source.Name, warning);
        return prepared.ToTensor();                                                        // (1, 1, D, H, W)
    }

    /// <summary>
    /// Streams the answer to <paramref name="question"/> about <paramref name="volume"/> (1, 1, D, H, W) token by
    /// token: <see cref="Generate(Tensor, string, GenerationOptions?)"/> runs on a thread-pool
    /// thread and each token is yielded as soon as it is chosen; the last one carries the whole
    /// <see cref="GeneratedToken.Result"/> (text, ids, TG-IS slice scores, timings). Cancelling
    /// <paramref name="cancellationToken"/> (or leaving the <c>await foreach</c> early) stops generation before the
    /// next decode step and frees its tensors; a cancelled enumeration throws <see cref="OperationCanceledException"/>.
    /// Nothing is yielded when the prompt already fills llm_max_length.
    /// </summary>
    /// <remarks>Enumerate it once. The volume must stay alive until the enumeration has finished.</remarks>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(Tensor volume, string question,
        GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(question);
        return Stream(o => Generate(volume, question, o), options ?? GenerationOptions, cancellationToken);
    }

    /// <summary>
    /// <see cref="GenerateAsync(Tensor, string, GenerationOptions?, CancellationToken)"/> for a prompt that is already
    /// rendered (an M3D conversation in the phi template, with its &lt;image3d&gt; placeholder) while BERT scores the
    /// slices against <paramref name="bertQuestion"/>, as the official evaluation does: the streaming form of
    /// <see cref="Generate(Tensor, string, string, GenerationOptions?)"/>.
    /// </summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(Tensor volume, string prompt, string bertQuestion,
        GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(bertQuestion);
        return Stream(o => Generate(volume, prompt, bertQuestion, o), options ?? GenerationOptions, cancellationToken);
    }

    /// <summary>Runs <paramref name="generate"/> on a thread-pool thread and yields its tokens as they come.</summary>
    private async IAsyncEnumerable<GeneratedToken> Stream(Func<GenerationOptions, GenerationResult> generate,
        GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var tokens = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, options.CancellationToken);
        Action<GeneratedToken>? callerOnToken = options.OnToken;
        int streamed = 0;
        var worker = Task.Run(() =>
        {
            try
            {
                GeneratedToken? last = null;
                var result = generate(options with
                {
                    CancellationToken = stop.Token,
                    OnToken = token =>
                    {
                        callerOnToken?.Invoke(token);
                        Interlocked.Increment(ref streamed);
                        // The last token waits the moment it takes Generate to return, so it can carry the result.
                        if (token.IsLast) last = token;
                        else tokens.Writer.TryWrite(token);
                    },
                });
                if (last is { } final) tokens.Writer.TryWrite(final with { Result = result });
            }
            finally
            {
                tokens.Writer.TryComplete();
            }
        }, CancellationToken.None);

        try
        {
            await foreach (var token in tokens.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                // Tokens decoded faster than they are read wait in the channel; none is handed out after a cancel.
                if (stop.IsCancellationRequested) break;
                yield return token;
            }

            stop.Token.ThrowIfCancellationRequested();
            await worker.ConfigureAwait(false);                                           // rethrows a failure
        }
        finally
        {
            if (!worker.IsCompleted)
            {
                // The caller left the loop early: stop at the next token and wait until the call's tensors are freed.
                stop.Cancel();
                try
                {
                    await worker.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The caller no longer wants this answer: how its generation ended (cancelled, or failed while
                    // stopping) must not replace whatever ended the caller's loop.
                }
            }

            if (worker.IsCanceled || worker.Exception?.InnerException is OperationCanceledException)
            {
                Med2E3Log.GenerationCancelled(Logger, streamed);
            }
        }
    }
}
