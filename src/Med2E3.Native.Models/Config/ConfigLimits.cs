namespace Med2E3.Native.Models.Config;

/// <summary>
/// The ranges every config number is checked against before it is used. They are generous (an order of magnitude
/// or more above the released Med-2E3 and the models it builds on) and exist so that a hostile or broken config
/// cannot make the loader build huge tables or divide by zero; the exact values are then checked against the
/// weight files.
/// </summary>
public static class ConfigLimits
{
    /// <summary>Layers of any stack (Phi-3-mini 32, SigLIP-L 24, the 3D ViT 12).</summary>
    public const int MaxLayers = 1024;

    /// <summary>Hidden, intermediate and MLP widths (Phi-3-mini 3072 and 8192).</summary>
    public const int MaxWidth = 1 << 17;

    /// <summary>Width of one attention head.</summary>
    public const int MaxHeadDim = 4096;

    /// <summary>Vocabulary rows (Phi-3 32064, BERT 30522).</summary>
    public const int MaxVocab = Med2E3.Native.Tokenizers.TokenizerLimits.MaxVocab;

    /// <summary>Positions of a position table or context (Phi-3-mini-128k 131072).</summary>
    public const int MaxPositions = 1 << 24;

    /// <summary>Side of a SigLIP image or of a volume axis, in pixels or voxels.</summary>
    public const int MaxImageSide = 4096;

    /// <summary>Voxels of the 3D encoder's input volume (the release: 32 × 256 × 256 = 2^21).</summary>
    public const long MaxInputVoxels = 1L << 26;

    /// <summary>Image or volume channels.</summary>
    public const int MaxChannels = 16;

    /// <summary>Allowed range of layer-norm and RMS-norm epsilons, as text for messages.</summary>
    public const string EpsilonRange = "a number > 0 and < 1";

    /// <summary>True for a usable normalisation epsilon.</summary>
    public static bool IsEpsilon(double eps) => eps > 0 && eps < 1;
}
