using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// Where a volume comes from, for <c>Med2E3Model.PreprocessVolume</c>: a file, a stream, an array of voxels or a
/// <see cref="Volume"/> already read. Nothing is read until <see cref="Read"/>; files and streams go through
/// <see cref="VolumeReader"/> (format from the content: .npy, NIfTI-1/2, optionally gzip-compressed).
/// </summary>
public sealed class VolumeSource
{
    private readonly Func<VolumeReadOptions?, Volume> _read;

    private VolumeSource(string name, Func<VolumeReadOptions?, Volume> read)
    {
        Name = name;
        _read = read;
    }

    /// <summary>The file path, or the name given to a stream or an array; used in messages.</summary>
    public string Name { get; }

    /// <summary>A volume file (.npy, .nii, .nii.gz).</summary>
    public static VolumeSource FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new VolumeSource(path, options => VolumeReader.Read(path, options));
    }

    /// <summary>
    /// A volume file's bytes in a stream (read from its current position; a stream that cannot seek is copied into
    /// memory first). The stream is not disposed. <paramref name="name"/> names it in messages.
    /// </summary>
    public static VolumeSource FromStream(Stream stream, string name = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new VolumeSource(name, options => VolumeReader.Read(stream, name, options));
    }

    /// <summary>
    /// Voxels (D, H, W) row-major, slice 0 the most superior, as <see cref="Volume"/> describes. Like a .npy volume,
    /// under <see cref="IntensityMode.Auto"/> values already in [0, 1] (the M3D convention) are used as they are and
    /// any other range is min–max scaled with a warning; set <see cref="PreprocessOptions.Window"/> or
    /// <see cref="PreprocessOptions.Intensity"/> to choose. The array is copied when the source is read.
    /// </summary>
    public static VolumeSource FromArray(float[] voxels, int depth, int height, int width, string name = "array")
    {
        ArgumentNullException.ThrowIfNull(voxels);
        if (depth < 1 || height < 1 || width < 1 || (long)depth * height * width != voxels.Length)
        {
            throw new ArgumentException($"{name}: {voxels.Length} voxels are not {depth} × {height} × {width}", nameof(voxels));
        }

        return new VolumeSource(name, options =>
        {
            var data = (float[])voxels.Clone();
            int bad = Array.FindIndex(data, v => !float.IsFinite(v));
            if (bad >= 0)
            {
                if ((options ?? VolumeReadOptions.Default).NonFinite != NonFinitePolicy.ReplaceWithZero)
                {
                    throw new VolumeFormatException(name,
                        $"voxel {bad} is {data[bad]}; read with NonFinitePolicy.ReplaceWithZero to use such voxels as 0");
                }

                for (int i = bad; i < data.Length; i++)
                {
                    if (!float.IsFinite(data[i])) data[i] = 0f;
                }
            }

            return new Volume(data, depth, height, width, name, VolumeFileFormat.InMemory);
        });
    }

    /// <summary>A volume already read (or made, e.g. by <see cref="Phantom"/>).</summary>
    public static VolumeSource FromVolume(Volume volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        return new VolumeSource(volume.FilePath, _ => volume);
    }

    /// <summary>Reads the volume.</summary>
    /// <exception cref="VolumeFormatException">The file or stream is missing, unreadable or malformed, or it has
    /// NaN or infinite voxels and <paramref name="options"/> does not allow them.</exception>
    public Volume Read(VolumeReadOptions? options = null) => _read(options);

    /// <inheritdoc />
    public override string ToString() => Name;
}
