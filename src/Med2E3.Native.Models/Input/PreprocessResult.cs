namespace Med2E3.Native.Models.Input;

/// <summary>The model-ready volume produced by <see cref="Preprocess.Run(Volume, PreprocessOptions)"/>.</summary>
public sealed class PreprocessResult
{
    internal PreprocessResult(float[] data, int depth, int height, int width, CropBox crop, IReadOnlyList<string> warnings)
    {
        Data = data;
        Depth = depth;
        Height = height;
        Width = width;
        Crop = crop;
        Warnings = warnings;
    }

    /// <summary>Voxels (D, H, W) row-major, float32; the model's (1, 1, D, H, W) input.</summary>
    public float[] Data { get; }

    /// <summary>D: slices (the target depth).</summary>
    public int Depth { get; }

    /// <summary>H: rows (the target height).</summary>
    public int Height { get; }

    /// <summary>W: columns (the target width).</summary>
    public int Width { get; }

    /// <summary>The foreground box that was cropped, in the input volume's voxel indices.</summary>
    public CropBox Crop { get; }

    /// <summary>The reader's warnings followed by those of preprocessing (e.g. a volume with no foreground).</summary>
    public IReadOnlyList<string> Warnings { get; }
}
