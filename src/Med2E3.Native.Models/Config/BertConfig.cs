using System.Globalization;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Models.Config;

/// <summary>
/// The BERT text encoder inside M3D-CLIP. M3D-CLIP's config does not describe it, so the dimensions are read off
/// the weights (vocabulary and width from the word embeddings, layers from the keys, intermediate width from
/// <c>intermediate.dense</c>, positions from the position table); the rest are bert-base defaults.
/// </summary>
public sealed record BertConfig
{
    /// <summary>Key prefix of the BERT weights inside <c>vision3d_model</c>.</summary>
    public const string DefaultPrefix = "language_encoder.";

    public required string SourcePath { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int IntermediateSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required int TypeVocabSize { get; init; }
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>"gelu" = exact erf GELU.</summary>
    public string HiddenAct { get; init; } = "gelu";

    public int PadTokenId { get; init; }

    /// <summary>True when the head count was assumed (width / 64) rather than given.</summary>
    public bool HeadsAssumed { get; init; }

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Derives the config from the BERT tensors of <paramref name="weights"/>.</summary>
    /// <param name="weights">The M3D-CLIP state dict.</param>
    /// <param name="prefix">Key prefix of the BERT tensors.</param>
    /// <param name="numAttentionHeads">Head count, when known; otherwise width / 64 (BERT's head size).</param>
    public static BertConfig FromWeights(StateDict weights, string prefix = DefaultPrefix,
        int? numAttentionHeads = null)
    {
        WeightTensor Need(string key, int rank)
        {
            if (!weights.TryGetValue(prefix + key, out WeightTensor? t))
            {
                throw new CheckpointFormatException(weights.Source,
                    $"BERT tensor '{prefix + key}' is missing, so the text encoder's size cannot be derived");
            }
            if (t.Rank != rank)
            {
                throw new CheckpointFormatException(weights.Source,
                    $"BERT tensor '{prefix + key}' has shape {t.ShapeString}, expected rank {rank}");
            }
            return t;
        }
        WeightTensor words = Need("embeddings.word_embeddings.weight", 2);
        int hidden = words.Shape[1];
        if (words.Shape[0] < 1 || hidden < 1 || hidden > ConfigLimits.MaxWidth)
        {
            throw new CheckpointFormatException(weights.Source,
                $"BERT word embeddings {words.ShapeString}: an empty vocabulary or a width outside 1 to {ConfigLimits.MaxWidth}");
        }
        var layers = new SortedSet<int>();
        string layerPrefix = prefix + "encoder.layer.";
        foreach (string key in weights.Keys)
        {
            if (key.StartsWith(layerPrefix, StringComparison.Ordinal))
            {
                string rest = key[layerPrefix.Length..];
                int dot = rest.IndexOf('.');
                if (dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                {
                    layers.Add(i);
                }
            }
        }
        if (layers.Count == 0 || layers.Min != 0 || layers.Max != layers.Count - 1 || layers.Count > ConfigLimits.MaxLayers)
        {
            string found = layers.Count <= 20 ? string.Join(",", layers) : $"{layers.Count} indices from {layers.Min} to {layers.Max}";
            throw new CheckpointFormatException(weights.Source,
                $"BERT layers under '{layerPrefix}' are not numbered 0..n-1 with n ≤ {ConfigLimits.MaxLayers} (found {found})");
        }
        int heads = numAttentionHeads ?? (hidden % 64 == 0 ? hidden / 64 : 0);
        if (heads <= 0 || hidden % heads != 0)
        {
            throw new CheckpointFormatException(weights.Source,
                $"BERT width {hidden} is not a multiple of 64; give the head count explicitly");
        }
        int Rows(string key)
        {
            WeightTensor t = Need(key, 2);
            return t.Shape[0] >= 1 ? t.Shape[0]
                : throw new CheckpointFormatException(weights.Source, $"BERT tensor '{prefix + key}' has shape {t.ShapeString}");
        }
        return new BertConfig
        {
            SourcePath = weights.Source,
            VocabSize = words.Shape[0],
            HiddenSize = hidden,
            NumHiddenLayers = layers.Count,
            NumAttentionHeads = heads,
            IntermediateSize = Rows("encoder.layer.0.intermediate.dense.weight"),
            MaxPositionEmbeddings = Rows("embeddings.position_embeddings.weight"),
            TypeVocabSize = Rows("embeddings.token_type_embeddings.weight"),
            HeadsAssumed = numAttentionHeads is null,
        };
    }
}
