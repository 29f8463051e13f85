using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// Everything the vision side of Med-2E3 computes for a batch of volumes (spec §0). The visual tokens are what the
/// LLM sees; the rest is kept for inspection (the golden check, the slice-score picture). Owns its tensors.
/// </summary>
public sealed class VisionEncoding : IDisposable
{
    public VisionEncoding(Tensor features3D, Tensor slices2D, Tensor textPooled, Tensor tokens3D, Tensor sliceScores,
        Tensor aggregated2D, Tensor visionTokens)
    {
        Features3D = features3D;
        Slices2D = slices2D;
        TextPooled = textPooled;
        Tokens3D = tokens3D;
        SliceScores = sliceScores;
        Aggregated2D = aggregated2D;
        VisionTokens = visionTokens;
    }

    /// <summary>F3 (B, N, C3): last 3D ViT block, before the final norm, CLS dropped.</summary>
    public Tensor Features3D { get; }

    /// <summary>Z2 (B, S, T2, D): every slice's SigLIP features after the 2D connector.</summary>
    public Tensor Slices2D { get; }

    /// <summary>p (B, C_text): BERT pooler output of the question.</summary>
    public Tensor TextPooled { get; }

    /// <summary>Z3 (B, L3, D): pooled and projected 3D tokens.</summary>
    public Tensor Tokens3D { get; }

    /// <summary>S (B, S): TG-IS softmax scores over slices (after the score dropout in training mode, spec §5.2).</summary>
    public Tensor SliceScores { get; }

    /// <summary>Z2f (B, T2, D): score-weighted sum of the slice tokens.</summary>
    public Tensor Aggregated2D { get; }

    /// <summary>(B, L3 + T2, D): concat(Z3, Z2f), the visual tokens spliced at &lt;image3d&gt;.</summary>
    public Tensor VisionTokens { get; }

    public void Dispose()
    {
        Features3D.Dispose();
        Slices2D.Dispose();
        TextPooled.Dispose();
        Tokens3D.Dispose();
        SliceScores.Dispose();
        Aggregated2D.Dispose();
        VisionTokens.Dispose();
    }
}
