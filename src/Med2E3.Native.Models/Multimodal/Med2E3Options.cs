using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>Options of <see cref="Med2E3Model.Load(string, string, Med2E3LoadOptions?)"/>.</summary>
public sealed record Med2E3LoadOptions
{
    /// <summary>Compute dtype; null = F32 on the CPU, BF16 on CUDA (the released model's evaluation precision).</summary>
    public DType? ComputeDType { get; init; }

    /// <summary>
    /// How the CPU computes the products of frozen weights: <see cref="Ops.Cpu.CpuPrecision.F32"/> (default, the
    /// definition: weights widened exactly from their storage dtype inside the kernels) or
    /// <see cref="Ops.Cpu.CpuPrecision.Bf16"/> (bf16 × bf16 → f32, faster, within the bf16 golden tolerances).
    /// </summary>
    public Ops.Cpu.CpuPrecision Precision { get; init; } = Ops.Cpu.CpuPrecision.F32;

    /// <summary>The BERT WordPiece vocab.txt of the question encoder; null = searched next to the checkpoint.</summary>
    public string? BertVocabPath { get; init; }

    /// <summary>Replace the trained text_mlp by a seeded N(0, 0.02) draw, mimicking the official loader (spec §5.2).</summary>
    public bool MimicReferenceTextMlp { get; init; }

    /// <summary>Seed of <see cref="MimicReferenceTextMlp"/>.</summary>
    public ulong ReferenceTextMlpSeed { get; init; }

    /// <summary>BERT head count of the question encoder when it is not width / 64 (M3D-CLIP's config does not say).</summary>
    public int? BertAttentionHeads { get; init; }

    /// <summary>Refuse a checkpoint whose keys or shapes disagree with its configs (default).</summary>
    public bool Strict { get; init; } = true;

    /// <summary>Where <see cref="Med2E3Model.LoadAsync"/> loads the weights: "cpu" (default), "cuda" or "cuda:N".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Receives the load summary, checkpoint notes, input warnings and per-call generation statistics
    /// (<see cref="Med2E3Model.Logger"/>); null = nothing is logged.</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }
}

/// <summary>Decoding settings (spec §6.5). The defaults are the evaluation setting: greedy, total length ≤ llm_max_length.</summary>
public sealed record GenerationOptions
{
    /// <summary>At most this many new tokens; null = up to <see cref="MaxTotalLength"/> in total.</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>Cap on prompt embeddings + generated tokens when <see cref="MaxNewTokens"/> is null; null = llm_max_length.</summary>
    public int? MaxTotalLength { get; init; }

    /// <summary>0 = greedy argmax; &gt; 0 samples from softmax(logits / T).</summary>
    public double Temperature { get; init; }

    /// <summary>Nucleus sampling threshold (with <see cref="Temperature"/> &gt; 0); 1 = off.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Keep only the k most likely tokens before top-p (with <see cref="Temperature"/> &gt; 0); 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Seed of the sampler; null = a fresh seed per call.</summary>
    public long? Seed { get; init; }

    /// <summary>Stop ids; null = the tokenizer's eos (&lt;|endoftext|&gt;), as the evaluation passes it.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }

    /// <summary>Called for every new token as soon as it is chosen (streaming).</summary>
    public Action<GeneratedToken>? OnToken { get; init; }

    /// <summary>Stops generation before the next decode step once cancelled (<see cref="OperationCanceledException"/>;
    /// every tensor of the call is freed). <see cref="Med2E3Model.GenerateAsync(Med2E3.Native.Tensors.Tensor, string, GenerationOptions?, CancellationToken)"/> sets it from its own token.</summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>Wall-clock times of one <see cref="Med2E3Model.Generate(Tensor, string, GenerationOptions?)"/> call.</summary>
/// <param name="Vision">Encoders, connectors and TG-IS.</param>
/// <param name="Prefill">Prompt splice and the prefill pass (time to the first token's logits).</param>
/// <param name="Decode">All decode steps after the first token.</param>
/// <param name="DecodeSteps">Decode steps run (new tokens − 1 when at least one token was produced).</param>
public sealed record GenerationTimings(TimeSpan Vision, TimeSpan Prefill, TimeSpan Decode, int DecodeSteps)
{
    /// <summary>Decode throughput (tokens per second after the first token); 0 when no step ran.</summary>
    public double DecodeTokensPerSecond => DecodeSteps == 0 || Decode.TotalSeconds <= 0 ? 0 : DecodeSteps / Decode.TotalSeconds;

    /// <summary>Everything.</summary>
    public TimeSpan Total => Vision + Prefill + Decode;
}

/// <summary>The answer to one question about one volume.</summary>
/// <param name="TokenIds">The new tokens (the stop token included when one was produced).</param>
/// <param name="Text">The decoded answer, special tokens skipped.</param>
/// <param name="SliceScores">TG-IS softmax scores, one per depth slice (sum 1): how much each slice's 2D tokens
/// contribute to the fused 2D tokens.</param>
/// <param name="PromptLength">Embedded prompt length (text tokens + visual tokens) fed to the prefill.</param>
/// <param name="StopReason">"eos" or "length".</param>
/// <param name="Timings">Wall-clock times.</param>
public sealed record GenerationResult(int[] TokenIds, string Text, float[] SliceScores, int PromptLength,
    string StopReason, GenerationTimings Timings);
