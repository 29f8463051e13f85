using Med2E3.Native.Models.Input;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// Reads a volume file and turns it into the network's input: <see cref="VolumeReader.Read(string, VolumeReadOptions?)"/>
/// (.npy, NIfTI-1/2, gzip; canonical orientation; NaN/Inf rejected), then <see cref="Preprocess.Run(Volume, PreprocessOptions?)"/>
/// (optional CT window, min–max, CropForeground, trilinear resize) to the size the checkpoint's 3D encoder takes.
/// </summary>
public static class VolumeInput
{
    /// <param name="Source">The volume as read, (D0, H0, W0).</param>
    /// <param name="Input">The model input, (D, H, W) = the checkpoint's <c>img_size</c>.</param>
    public sealed record Prepared(Volume Source, PreprocessResult Input);

    /// <param name="path">The volume file.</param>
    /// <param name="imgSize">(D, H, W) from <c>vision3d_model/config.json</c> (<c>img_size</c>).</param>
    /// <param name="window">Optional intensity window; it implies min–max scaling afterwards, also for .npy.</param>
    /// <param name="nanToZero">Replace NaN or infinite voxels with 0 instead of refusing the file.</param>
    /// <param name="device">Where the crop + resize runs and the result stays (null: the host, as floats).</param>
    /// <param name="maxVoxels">The largest volume read (<c>--max-voxels</c>; null: the reader's default).</param>
    /// <exception cref="VolumeFormatException">Exit code 3 with "FILE: problem" when the file cannot be used.</exception>
    public static Prepared Read(string path, IReadOnlyList<int> imgSize, (float Lower, float Upper)? window,
        bool nanToZero = false, Device? device = null, long? maxVoxels = null)
    {
        Volume volume = ReadFile(path, nanToZero, maxVoxels);
        return new Prepared(volume, Prepare(volume, imgSize, window, device));
    }

    /// <summary>
    /// Reads the file (format, header, voxels, orientation): "FILE: problem", exit code 3. NaN or infinite voxels are
    /// an error unless <paramref name="nanToZero"/> (<c>--nan-to-zero</c>), which replaces them with 0 and warns. A volume
    /// with more than <paramref name="maxVoxels"/> voxels (<c>--max-voxels</c>) is refused from its header.
    /// </summary>
    public static Volume ReadFile(string path, bool nanToZero = false, long? maxVoxels = null)
    {
        CheckExists(path);
        var options = new VolumeReadOptions
        {
            NonFinite = nanToZero ? NonFinitePolicy.ReplaceWithZero : NonFinitePolicy.Error,
            MaxVoxels = maxVoxels ?? VolumeReadOptions.DefaultMaxVoxels,
        };
        try
        {
            return VolumeReader.Read(path, options);
        }
        catch (VolumeFormatException e) when (e.Problem.Contains("NonFinitePolicy.ReplaceWithZero", StringComparison.Ordinal))
        {
            // The reader's hint names its API; on the command line the same choice is --nan-to-zero.
            throw CliException.BadInput(e.Message.Replace("read with NonFinitePolicy.ReplaceWithZero", "pass --nan-to-zero"), e);
        }
        catch (VolumeFormatException e) when (e.Problem.Contains("VolumeReadOptions.MaxVoxels", StringComparison.Ordinal))
        {
            // Likewise for the voxel cap: on the command line it is --max-voxels.
            throw CliException.BadInput(e.Message.Replace("VolumeReadOptions.MaxVoxels", "--max-voxels"), e);
        }
    }

    /// <summary>"FILE: volume file not found" (or "is a folder"), exit code 3.</summary>
    public static void CheckExists(string path)
    {
        if (Directory.Exists(path))
            throw CliException.BadInput($"{path}: is a folder; --volume expects a .npy, .nii or .nii.gz file");
        if (!File.Exists(path))
            throw CliException.BadInput($"{path}: volume file not found");
    }

    /// <summary>
    /// Window, min–max, crop to the foreground and resize to <paramref name="imgSize"/> (D, H, W). With a
    /// <paramref name="device"/> the volume is uploaded once and cropped + resized there by the ResizeTrilinear3d op
    /// (the result's tensor stays on the device for the encoders; dispose the result).
    /// </summary>
    public static PreprocessResult Prepare(Volume volume, IReadOnlyList<int> imgSize, (float Lower, float Upper)? window,
        Device? device = null)
    {
        if (imgSize.Count != 3 || imgSize.Any(n => n < 1))
            throw CliException.Checkpoint($"vision3d img_size [{string.Join(", ", imgSize)}] is not a (D, H, W) size");
        var options = PreprocessOptions.Default.WithTarget(imgSize[0], imgSize[1], imgSize[2]) with
        {
            Window = window is { } w ? (w.Lower, w.Upper) : null,
            MinMaxNormalize = window is null ? null : true,
        };
        return device is { } d ? Preprocess.Run(volume, d, options) : Preprocess.Run(volume, options);
    }
}
