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

    /// <summary>Reads a vision config; a full SigLIP config is accepted too (its <c>vision_config</c> is used).</summary>
    public static SiglipVisionConfig From(ConfigJson j)
    {
        j = j.Object("vision_config") ?? j;
        return new SiglipVisionConfig
        {
            SourcePath = j.FilePath,
            HiddenSize = j.Int("hidden_size"),
            IntermediateSize = j.Int("intermediate_size"),
            NumHiddenLayers = j.Int("num_hidden_layers"),
            NumAttentionHeads = j.Int("num_attention_heads"),
            NumChannels = j.Int("num_channels", 3),
            ImageSize = j.Int("image_size"),
            PatchSize = j.Int("patch_size"),
            HiddenAct = j.String("hidden_act", "gelu_pytorch_tanh"),
            LayerNormEps = j.Double("layer_norm_eps", 1e-6),
        };
    }

    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                p.Add($"{SourcePath}: {problem}");
            }
        }
        Check(HiddenSize > 0 && IntermediateSize > 0 && NumHiddenLayers > 0 && NumAttentionHeads > 0 &&
              ImageSize > 0 && PatchSize > 0 && NumChannels > 0, "sizes must be positive");
        Check(NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0,
            $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        Check(PatchSize > 0 && ImageSize % PatchSize == 0,
            $"image_size {ImageSize} is not divisible by patch_size {PatchSize}");
        Check(HiddenAct == "gelu_pytorch_tanh", $"hidden_act '{HiddenAct}' is not supported (gelu_pytorch_tanh)");
        return p;
    }
}
