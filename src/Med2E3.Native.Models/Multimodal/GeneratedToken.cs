namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// One generated token, as streamed to <see cref="GenerationOptions.OnToken"/> and by
/// <see cref="Med2E3Model.GenerateAsync(Med2E3.Native.Tensors.Tensor, string, GenerationOptions?, CancellationToken)"/>.
/// </summary>
/// <param name="Index">0 for the first new token.</param>
/// <param name="Id">Phi-3 token id.</param>
/// <param name="TextDelta">Text this token adds to the decoded answer (may be empty while a multi-byte character is
/// incomplete, or for a special token); the deltas of all tokens concatenate to <see cref="GenerationResult.Text"/>.</param>
/// <param name="IsEos">The token is the end-of-sequence token (generation stops after it).</param>
public readonly record struct GeneratedToken(int Index, int Id, string TextDelta, bool IsEos)
{
    /// <summary>No token follows: end of sequence, the length cap or <see cref="GenerationOptions.MaxNewTokens"/>.</summary>
    public bool IsLast { get; init; }

    /// <summary>Time from the start of decoding (the prefill) to this token being chosen; for the first token, the
    /// time to first token after the vision encoders.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>
    /// The whole answer (ids, text, TG-IS slice scores, timings): set on the last token streamed by
    /// <see cref="Med2E3Model.GenerateAsync(Med2E3.Native.Tensors.Tensor, string, GenerationOptions?, CancellationToken)"/>, null on every other token and in <see cref="GenerationOptions.OnToken"/>.
    /// </summary>
    public GenerationResult? Result { get; init; }
}
