using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Models.Config;

/// <summary>Connector settings nested in <c>args/config.json</c> (all optional there).</summary>
public sealed record ConnectorArgs(int? InputDim, int? OutputDim, int[]? ImgSize, int[]? PatchSize,
    string? ConnectorType)
{
    internal static ConnectorArgs? From(ConfigJson? j) => j is null
        ? null
        : new ConnectorArgs(j.OptionalInt("input_dim", 1, ConfigLimits.MaxWidth),
            j.OptionalInt("output_dim", 1, ConfigLimits.MaxWidth),
            j.OptionalIntArray("img_size", 1, ConfigLimits.MaxImageSide),
            j.OptionalIntArray("patch_size", 1, ConfigLimits.MaxImageSide), j.OptionalString("connector_type"));
}

/// <summary>
/// The model arguments the training recipe saves in <c>args/config.json</c> (or the root <c>config.json</c>):
/// which connectors, which encoder layers and features, and the LLM context cap.
/// </summary>
public sealed record Med2E3Args
{
    /// <summary>The 2D connector this library implements.</summary>
    public const string Mlp2xGelu = "mlp2x_gelu";

    /// <summary>The 3D connector (pooling + MLP + TG-IS slice scoring) this library implements.</summary>
    public const string SpatialPoolingScore15 = "spatial_pooling_score15_mlp2x_gelu";

    public required string SourcePath { get; init; }
    public int? ExpId { get; init; }
    public required string LlmType { get; init; }
    public required int LlmMaxLength { get; init; }
    public required string LlmPaddingSide { get; init; }
    public string? ConvVersion { get; init; }
    public required string Vision2DModelType { get; init; }
    public required int Vision2DSelectLayer { get; init; }
    public required string Vision2DSelectFeature { get; init; }
    public required string Vision2DConnectorType { get; init; }
    public required string Vision3DModelType { get; init; }
    public required int Vision3DSelectLayer { get; init; }
    public required string Vision3DSelectFeature { get; init; }
    public required string Vision3DConnectorType { get; init; }
    public string? TokenizerNameOrPath { get; init; }
    public bool TokenizerUseFast { get; init; }
    public int? HiddenSize { get; init; }
    public ConnectorArgs? Vision2DConnector { get; init; }
    public ConnectorArgs? Vision3DConnector { get; init; }

    /// <summary>The raw JSON, for nested configs (<c>llm_config</c>, …) used when a component config is absent.</summary>
    public required ConfigJson Json { get; init; }

    public static Med2E3Args Load(string path) => From(ConfigJson.Load(path));

    public static Med2E3Args From(ConfigJson j) => new()
    {
        SourcePath = j.FilePath,
        Json = j,
        ExpId = j.OptionalInt("exp_id"),
        LlmType = j.String("llm_type", "phi3"),
        LlmMaxLength = j.Int("llm_max_length", 1, ConfigLimits.MaxPositions),
        LlmPaddingSide = j.String("llm_padding_side", "right"),
        ConvVersion = j.OptionalString("conv_version"),
        Vision2DModelType = j.String("vision2d_model_type", "siglip"),
        Vision2DSelectLayer = j.Int("vision2d_model_select_layer", -ConfigLimits.MaxLayers, ConfigLimits.MaxLayers),
        Vision2DSelectFeature = j.String("vision2d_model_select_feature"),
        Vision2DConnectorType = j.String("vision2d_connector_type"),
        Vision3DModelType = j.String("vision3d_model_type", "m3d"),
        Vision3DSelectLayer = j.Int("vision3d_model_select_layer", -ConfigLimits.MaxLayers, ConfigLimits.MaxLayers),
        Vision3DSelectFeature = j.String("vision3d_model_select_feature"),
        Vision3DConnectorType = j.String("vision3d_connector_type"),
        TokenizerNameOrPath = j.OptionalString("tokenizer_name_or_path"),
        TokenizerUseFast = j.Bool("tokenizer_use_fast", false),
        HiddenSize = j.OptionalInt("hidden_size", 1, ConfigLimits.MaxWidth),
        Vision2DConnector = ConnectorArgs.From(j.Object("vision2d_connector_config")),
        Vision3DConnector = ConnectorArgs.From(j.Object("vision3d_connector_config")),
    };

    /// <summary>Settings this library cannot run, as one-line problems (empty when all are supported).</summary>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        void Check(bool ok, string field, string problem)
        {
            if (!ok)
            {
                p.Add($"{SourcePath}: field '{field}': {problem}");
            }
        }
        Check(LlmType == "phi3", "llm_type", $"{InputText.Quote(LlmType)} is not supported (phi3 only)");
        Check(Vision2DModelType == "siglip", "vision2d_model_type", $"{InputText.Quote(Vision2DModelType)} is not supported (siglip)");
        Check(Vision3DModelType == "m3d", "vision3d_model_type", $"{InputText.Quote(Vision3DModelType)} is not supported (m3d)");
        Check(Vision2DConnectorType == Mlp2xGelu, "vision2d_connector_type",
            $"{InputText.Quote(Vision2DConnectorType)} is not supported ({Mlp2xGelu})");
        Check(Vision3DConnectorType == SpatialPoolingScore15, "vision3d_connector_type",
            $"{InputText.Quote(Vision3DConnectorType)} is not supported ({SpatialPoolingScore15})");
        Check(Vision2DSelectLayer == -1, "vision2d_model_select_layer", $"{Vision2DSelectLayer} is not supported (-1)");
        Check(Vision3DSelectLayer == -1, "vision3d_model_select_layer", $"{Vision3DSelectLayer} is not supported (-1)");
        Check(Vision2DSelectFeature == "cls_patch", "vision2d_model_select_feature",
            $"{InputText.Quote(Vision2DSelectFeature)} is not supported (cls_patch)");
        Check(Vision3DSelectFeature == "patch", "vision3d_model_select_feature",
            $"{InputText.Quote(Vision3DSelectFeature)} is not supported (patch)");
        Check(LlmPaddingSide is "right" or "left", "llm_padding_side", $"{InputText.Quote(LlmPaddingSide)} is not right or left");
        return p;
    }
}
