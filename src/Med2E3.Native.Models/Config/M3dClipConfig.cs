using Med2E3.Native.Formats.Files;

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

    /// <summary>
    /// Reads and checks the config: sizes in range, each patch side dividing the volume side, the heads dividing the
    /// width, at most <see cref="ConfigLimits.MaxInputVoxels"/> input voxels.
    /// </summary>
    /// <exception cref="Formats.Checkpoints.CheckpointConfigException">A field is missing, mistyped or out of its range.</exception>
    public static M3dClipConfig From(ConfigJson j)
    {
        int spatial = j.Int("spatial_dims", 3);
        if (spatial != 3)
        {
            throw j.OutOfRange("spatial_dims", spatial, "3");
        }
        int[] img = j.IntArray("img_size", 3, 1, ConfigLimits.MaxImageSide);
        if ((long)img[0] * img[1] * img[2] > ConfigLimits.MaxInputVoxels)
        {
            throw j.OutOfRange("img_size", null, $"at most {ConfigLimits.MaxInputVoxels} voxels in all");
        }
        int[] patch = j.IntArray("patch_size", 3, 1, ConfigLimits.MaxImageSide);
        for (int i = 0; i < 3; i++)
        {
            if (patch[i] > img[i] || img[i] % patch[i] != 0)
            {
                throw j.OutOfRange("patch_size", null, $"each side a divisor of img_size [{string.Join(", ", img)}]");
            }
        }
        int hidden = j.Int("hidden_size", 1, ConfigLimits.MaxWidth);
        int heads = j.Heads("num_heads", hidden);
        return new M3dClipConfig
        {
            SourcePath = j.FilePath,
            ImgSize = img,
            PatchSize = patch,
            HiddenSize = hidden,
            MlpDim = j.Int("mlp_dim", 1, ConfigLimits.MaxWidth),
            NumLayers = j.Int("num_layers", 1, ConfigLimits.MaxLayers),
            NumHeads = heads,
            InChannels = j.Int("in_channels", 1, 1, ConfigLimits.MaxChannels),
            PosEmbed = j.String("pos_embed", "perceptron"),
            SpatialDims = spatial,
            MaxTextLen = j.OptionalInt("max_text_len", 1, ConfigLimits.MaxPositions),
            VocabSize = j.OptionalInt("vocab_size", 1, ConfigLimits.MaxVocab),
            LanguageModelNameOrPath = j.OptionalString("language_model_name_or_path"),
        };
    }

    /// <summary>Settings this library cannot run (sizes and ranges are checked by <see cref="From"/>).</summary>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (PosEmbed != "perceptron")
        {
            p.Add($"{SourcePath}: field 'pos_embed': {InputText.Quote(PosEmbed)} is not supported (perceptron)");
        }
        if (InChannels != 1)
        {
            p.Add($"{SourcePath}: field 'in_channels': {InChannels} is not supported (1)");
        }
        return p;
    }
}
