using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Formats.Volumes.Dicom;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// Reads a volume and turns it into the network's input, the same way for every command:
/// <see cref="VolumeReader.Read(string, VolumeReadOptions?)"/> (.npy, NIfTI-1/2, gzip, DICOM files and folders;
/// canonical orientation; NaN/Inf rejected), then <see cref="Preprocess.Run(Volume, PreprocessOptions)"/> (the
/// intensity step of <c>--intensity</c> / <c>--window</c>, CropForeground, trilinear resize) to the size the
/// checkpoint's 3D encoder takes.
/// </summary>
public static class VolumeInput
{
    /// <param name="Source">The volume as read, (D0, H0, W0); after preprocessing its voxels hold the intensity-scaled
    /// values (preprocessing works in place).</param>
    /// <param name="Input">The model input, (D, H, W) = the checkpoint's <c>img_size</c>.</param>
    public sealed record Prepared(Volume Source, PreprocessResult Input);

    /// <param name="path">The volume file or DICOM folder.</param>
    /// <param name="imgSize">(D, H, W) from <c>vision3d_model/config.json</c> (<c>img_size</c>).</param>
    /// <param name="options">The command's volume options.</param>
    /// <param name="device">Where the crop + resize runs and the result stays (null: the host, as floats).</param>
    /// <exception cref="CliException">Exit code 3 with "FILE: problem" when the file cannot be used.</exception>
    public static Prepared Read(string path, IReadOnlyList<int> imgSize, VolumeOptions.Values options, Device? device = null)
    {
        Volume volume = ReadFile(path, options);
        return new Prepared(volume, Prepare(volume, imgSize, options, device));
    }

    /// <summary>
    /// Reads the file or folder (format, header, voxels, orientation): "FILE: problem", exit code 3; a DICOM folder
    /// with several series and no <c>--series</c> is a usage error (exit 2) that lists them. NaN or infinite voxels
    /// are an error unless <c>--nan-to-zero</c>, which replaces them with 0 and warns. A volume with more voxels than
    /// <c>--max-voxels</c> is refused from its header.
    /// </summary>
    public static Volume ReadFile(string path, VolumeOptions.Values options)
    {
        CheckExists(path);
        try
        {
            return VolumeReader.Read(path, options.ReadOptions);
        }
        catch (DicomSeriesChoiceException choice)
        {
            throw CliException.Usage(choice.Message.Replace(DicomSeriesChoiceException.LibraryHint, "pick one with --series UID|N",
                StringComparison.Ordinal));
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

    /// <summary>"PATH: volume file not found", exit code 3.</summary>
    public static void CheckExists(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
            throw CliException.BadInput($"{path}: volume file not found");
    }

    /// <summary>
    /// The intensity step, crop to the foreground and resize to <paramref name="imgSize"/> (D, H, W). With a
    /// <paramref name="device"/> the crop is uploaded once and resized there by the ResizeTrilinear3d op (the result's
    /// tensor stays on the device for the encoders; dispose the result).
    /// </summary>
    public static PreprocessResult Prepare(Volume volume, IReadOnlyList<int> imgSize, VolumeOptions.Values options,
        Device? device = null)
    {
        if (imgSize.Count != 3 || imgSize.Any(n => n < 1))
            throw CliException.Checkpoint($"vision3d img_size [{string.Join(", ", imgSize)}] is not a (D, H, W) size");
        var preprocess = options.Preprocess(imgSize);
        return device is { } d ? Preprocess.Run(volume, d, preprocess) : Preprocess.Run(volume, preprocess);
    }

    /// <summary>
    /// What <c>--verbose</c> prints about a volume and its model input: the source format, orientation, voxel size,
    /// the intensity handling and the crop box.
    /// </summary>
    public static IEnumerable<string> Describe(Volume source, PreprocessResult input)
    {
        yield return $"volume {source.FilePath}";
        yield return $"  format:      {source.FormatDetails ?? source.Format.ToString()}";
        yield return source.SourceAxisCodes is { } codes
            ? $"  orientation: stored {codes} (from the {source.OrientationSource}) → canonical "
              + $"{Orientation.CanonicalAxisCodes} (D towards I, H towards P, W towards L)"
            : "  orientation: none in the file; the array is taken as (D, H, W) as stored";
        yield return source.SpacingMm is { } s
            ? $"  spacing:     D {VolumeOptions.Num(s.D)} mm, H {VolumeOptions.Num(s.H)} mm, W {VolumeOptions.Num(s.W)} mm"
            : "  spacing:     none in the file";
        yield return $"  intensity:   {input.Intensity}";
        yield return $"  crop box:    {input.Crop} of {source.Depth}×{source.Height}×{source.Width} (D, H, W)";
        yield return $"  model input: {input.Depth}×{input.Height}×{input.Width}";
    }
}
