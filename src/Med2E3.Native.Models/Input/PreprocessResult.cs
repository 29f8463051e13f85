using Med2E3.Native.Tensors;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// The model-ready volume produced by <see cref="Preprocess.Run(Volume, PreprocessOptions)"/> (host floats) or by
/// <see cref="Preprocess.Run(Volume, Device, PreprocessOptions)"/> (a tensor on the device, downloaded only when
/// <see cref="Data"/> is read). Dispose it to release the device tensor.
/// </summary>
public sealed class PreprocessResult : IDisposable
{
    private float[]? _data;
    private Tensor? _tensor;

    internal PreprocessResult(float[] data, int depth, int height, int width, CropBox crop, IReadOnlyList<string> warnings,
        string intensity)
        : this(depth, height, width, crop, warnings, intensity)
    {
        _data = data;
    }

    internal PreprocessResult(Tensor tensor, CropBox crop, IReadOnlyList<string> warnings, string intensity)
        : this(tensor.Dim(2), tensor.Dim(3), tensor.Dim(4), crop, warnings, intensity)
    {
        _tensor = tensor;
    }

    private PreprocessResult(int depth, int height, int width, CropBox crop, IReadOnlyList<string> warnings,
        string intensity)
    {
        Depth = depth;
        Height = height;
        Width = width;
        Crop = crop;
        Warnings = warnings;
        Intensity = intensity;
    }

    /// <summary>Voxels (D, H, W) row-major, float32; the model's (1, 1, D, H, W) input.</summary>
    public float[] Data => _data ??= (_tensor ?? throw new ObjectDisposedException(nameof(PreprocessResult))).ToFloatArray();

    /// <summary>D: slices (the target depth).</summary>
    public int Depth { get; }

    /// <summary>H: rows (the target height).</summary>
    public int Height { get; }

    /// <summary>W: columns (the target width).</summary>
    public int Width { get; }

    /// <summary>The foreground box that was cropped, in the input volume's voxel indices.</summary>
    public CropBox Crop { get; }

    /// <summary>
    /// What the intensity step did, in words, e.g. "window [-160, 240], then min–max [-160, 240] → [0, 1]" or
    /// "kept as is: values already in [0, 1] ([0, 0.9961])".
    /// </summary>
    public string Intensity { get; }

    /// <summary>The reader's warnings followed by those of preprocessing (e.g. a volume with no foreground).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// The volume as a (1, 1, D, H, W) f32 tensor, owned by the caller: an alias of the device tensor when the resize
    /// ran there, else a new CPU tensor over <see cref="Data"/>.
    /// </summary>
    public Tensor ToTensor() =>
        _tensor?.Alias() ?? Tensor.FromArray(_data ?? throw new ObjectDisposedException(nameof(PreprocessResult)),
            1, 1, Depth, Height, Width);

    /// <summary>Releases the device tensor (host data already read stays readable).</summary>
    public void Dispose()
    {
        _tensor?.Dispose();
        _tensor = null;
    }
}
