using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Models.Config;

/// <summary>The SigLIP vision tower config (<c>vision2d_model/config.json</c>).</summary>
public sealed record SiglipVisionConfig
{
    public required string SourcePath { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumChannels { get; init; }
    public required int ImageSize { get; init; }
    public required int PatchSize { get; init; }
    public required string HiddenAct { get; init; }
    public required double LayerNormEps { get; init; }

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Patches per side.</summary>
    public int GridSize => ImageSize / PatchSize;

    /// <summary>Tokens per image (no CLS token).</summary>
    public int NumPatches => GridSize * GridSize;

    public static SiglipVisionConfig Load(string path) => From(ConfigJson.Load(path));

    /// <summary>
    /// Reads and checks a vision config (a full SigLIP config is accepted too: its <c>vision_config</c> is used):
    /// sizes in range, the heads dividing the width, the patch size dividing the image size, a usable epsilon.
    /// </summary>
    /// <exception cref="Formats.Checkpoints.CheckpointConfigException">A field is missing, mistyped or out of its range.</exception>
    public static SiglipVisionConfig From(ConfigJson j)
    {
        j = j.Object("vision_config") ?? j;
        int hidden = j.Int("hidden_size", 1, ConfigLimits.MaxWidth);
        int heads = j.Heads("num_attention_heads", hidden);
        int image = j.Int("image_size", 1, ConfigLimits.MaxImageSide);
        int patch = j.Int("patch_size", 1, image);
        if (image % patch != 0)
        {
            throw j.OutOfRange("patch_size", patch, $"a divisor of image_size {image}");
        }
        return new SiglipVisionConfig
        {
            SourcePath = j.FilePath,
            HiddenSize = hidden,
            IntermediateSize = j.Int("intermediate_size", 1, ConfigLimits.MaxWidth),
            NumHiddenLayers = j.Int("num_hidden_layers", 1, ConfigLimits.MaxLayers),
            NumAttentionHeads = heads,
            NumChannels = j.Int("num_channels", 3, 1, ConfigLimits.MaxChannels),
            ImageSize = image,
            PatchSize = patch,
            HiddenAct = j.String("hidden_act", "gelu_pytorch_tanh"),
            LayerNormEps = j.Number("layer_norm_eps", 1e-6, ConfigLimits.IsEpsilon, ConfigLimits.EpsilonRange),
        };
    }

    /// <summary>Settings this library cannot run (sizes and ranges are checked by <see cref="From"/>).</summary>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (HiddenAct != "gelu_pytorch_tanh")
        {
            p.Add($"{SourcePath}: field 'hidden_act': {InputText.Quote(HiddenAct)} is not supported (gelu_pytorch_tanh)");
        }
        return p;
    }
}
