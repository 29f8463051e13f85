namespace Med2E3.Native.Models.Config;

/// <summary>The M3D-CLIP config (<c>vision3d_model/config.json</c>): the 3D ViT and the text side.</summary>
public sealed record M3dClipConfig
{
    public required string SourcePath { get; init; }

    /// <summary>Volume size (D, H, W).</summary>
    public required int[] ImgSize { get; init; }

    /// <summary>Patch extent (pz, py, px).</summary>
    public required int[] PatchSize { get; init; }

    public required int HiddenSize { get; init; }
    public required int MlpDim { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int InChannels { get; init; }
    public required string PosEmbed { get; init; }
    public required int SpatialDims { get; init; }

    /// <summary>Text length the CLIP text side was trained with (M3D default 128), if given.</summary>
    public int? MaxTextLen { get; init; }

    /// <summary>BERT vocabulary size, if given.</summary>
    public int? VocabSize { get; init; }

    public string? LanguageModelNameOrPath { get; init; }

    /// <summary>LayerNorm eps of the 3D ViT (MONAI's fixed 1e-5).</summary>
    public double LayerNormEps => 1e-5;

    public int HeadDim => HiddenSize / NumHeads;

    /// <summary>Patch grid (gz, gy, gx) = img_size / patch_size.</summary>
    public int[] Grid => [ImgSize[0] / PatchSize[0], ImgSize[1] / PatchSize[1], ImgSize[2] / PatchSize[2]];

    /// <summary>Patch tokens (CLS excluded).</summary>
    public int NumPatches => Grid[0] * Grid[1] * Grid[2];

    /// <summary>Length of a flattened patch vector: channels × pz × py × px.</summary>
    public int PatchVectorLength => InChannels * PatchSize[0] * PatchSize[1] * PatchSize[2];

    public static M3dClipConfig Load(string path) => From(ConfigJson.Load(path));

    public static M3dClipConfig From(ConfigJson j)
    {
        int spatial = j.Int("spatial_dims", 3);
        if (spatial != 3)
        {
            throw j.Invalid("spatial_dims", $"{spatial} is not supported (3)");
        }
        return new M3dClipConfig
        {
            SourcePath = j.FilePath,
            ImgSize = j.IntArray("img_size", 3),
            PatchSize = j.IntArray("patch_size", 3),
            HiddenSize = j.Int("hidden_size"),
            MlpDim = j.Int("mlp_dim"),
            NumLayers = j.Int("num_layers"),
            NumHeads = j.Int("num_heads"),
            InChannels = j.Int("in_channels", 1),
            PosEmbed = j.String("pos_embed", "perceptron"),
            SpatialDims = spatial,
            MaxTextLen = j.OptionalInt("max_text_len"),
            VocabSize = j.OptionalInt("vocab_size"),
            LanguageModelNameOrPath = j.OptionalString("language_model_name_or_path"),
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
        Check(ImgSize.All(x => x > 0) && PatchSize.All(x => x > 0) && HiddenSize > 0 && MlpDim > 0 &&
              NumLayers > 0 && NumHeads > 0 && InChannels > 0, "sizes must be positive");
        Check(NumHeads > 0 && HiddenSize % NumHeads == 0,
            $"hidden_size {HiddenSize} is not divisible by num_heads {NumHeads}");
        for (int i = 0; i < 3; i++)
        {
            Check(PatchSize[i] > 0 && ImgSize[i] % PatchSize[i] == 0,
                $"img_size[{i}] {ImgSize[i]} is not divisible by patch_size[{i}] {PatchSize[i]}");
        }
        Check(PosEmbed == "perceptron", $"pos_embed '{PosEmbed}' is not supported (perceptron)");
        return p;
    }
}
