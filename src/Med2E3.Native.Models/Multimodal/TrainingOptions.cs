namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// Training-mode behaviour of one <see cref="Med2E3Model.Loss(Med2E3.Native.Tensors.Tensor, string, string, TrainingOptions?)"/>
/// step (spec §9). Null or <see cref="Dropout"/> = false is evaluation semantics, as the golden loss and gradients.
/// <list type="bullet">
/// <item>TG-IS score dropout (spec §5.2 step 5): the softmax slice scores S are zeroed with probability
/// <see cref="ScoreDropout"/> and survivors scaled by 1/(1 − p), so they no longer sum to 1.</item>
/// <item>BERT dropout (spec §3.2; the frozen module stays in train mode in the reference): <see cref="BertDropout"/>
/// on the embeddings output, on the attention probabilities, and on each dense sublayer output before the residual
/// add and LayerNorm. Masks are drawn for the real (unpadded) tokens only.</item>
/// </list>
/// Masks come from <see cref="Seed"/> on the host, one independent stream per use, so a step is reproducible and
/// device independent. Augmentations are part of the input pipeline: <see cref="Input.Augment"/>.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Turns the training-mode dropouts on.</summary>
    public bool Dropout { get; init; }

    /// <summary>Rate of the TG-IS score dropout (the reference's attn_dropout, 0.1).</summary>
    public double ScoreDropout { get; init; } = Vision3DConnector.ScoreDropout;

    /// <summary>BERT hidden_dropout_prob and attention_probs_dropout_prob (0.1).</summary>
    public double BertDropout { get; init; } = 0.1;

    /// <summary>Seed of the dropout masks; use a different seed per step.</summary>
    public long Seed { get; init; }

    /// <summary>The default fine-tuning setting (both dropouts at 0.1) with <paramref name="seed"/>.</summary>
    public static TrainingOptions Train(long seed) => new() { Dropout = true, Seed = seed };
}
