using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// The sample volumes made from <see cref="Phantom"/>: the demo's volume embedded in this assembly (with the demo's
/// other files under <c>Demo/assets/</c>, so the built tool needs no file), and the small files under
/// <c>tests/data/volumes/</c>, which <see cref="WriteTestSamples"/> regenerates.
/// </summary>
public static class SampleVolumes
{
    /// <summary>File name of the embedded demo volume: int16 Hounsfield units, NIfTI-1, gzip, 32 × 64 × 64.</summary>
    public const string DemoFileName = "phantom-ct-32x64x64.nii.gz";

    /// <summary>Size (D, H, W) of the embedded demo volume.</summary>
    public static (int D, int H, int W) DemoSize => (32, 64, 64);

    /// <summary>
    /// Voxel size (D, H, W) in mm written into a NIfTI sample of size (<paramref name="d"/>, <paramref name="h"/>,
    /// <paramref name="w"/>): the phantom always spans 160 mm × 358.4 mm × 358.4 mm.
    /// </summary>
    public static (double D, double H, double W) SpacingMm(int d, int h, int w) => (160.0 / d, 358.4 / h, 358.4 / w);

    /// <summary>A question about the demo volume that its anatomy answers (there is a hypodense liver lesion).</summary>
    public const string DemoQuestion = "Is there a lesion in the liver?";

    /// <summary>
    /// The intensity window to use with the demo volume (raw CT in HU): the abdominal soft-tissue window, which turns
    /// it into the kind of [0,1] data M3D was trained on.
    /// </summary>
    public static (float Lo, float Hi) DemoWindow => Phantom.SoftTissueWindow;

    /// <summary>Name of the M3D-style test sample: (1, 8, 32, 32) float32 in [0,1].</summary>
    public const string TestNpyFileName = "phantom-1x8x32x32.npy";

    /// <summary>Name of the NIfTI test sample: int16 HU, 8 × 32 × 32, stored RAS+, gzip.</summary>
    public const string TestNiftiFileName = "phantom-ct-8x32x32.nii.gz";

    /// <summary>Opens the embedded demo volume's bytes (a .nii.gz, one of the demo's files); the caller disposes the stream.</summary>
    public static Stream OpenDemo() => Demo.DemoAssets.Open(DemoFileName);

    /// <summary>Reads the embedded demo volume (canonical (D, H, W), Hounsfield units).</summary>
    public static Volume ReadDemo(VolumeReadOptions? options = null)
    {
        using var stream = OpenDemo();
        return NiftiReader.Read(StreamUtil.Decode(stream, "embedded:" + DemoFileName), "embedded:" + DemoFileName, options);
    }

    /// <summary>Writes the demo volume file (the source of the embedded resource) into <paramref name="directory"/>.</summary>
    public static string WriteDemo(string directory)
    {
        var (d, h, w) = DemoSize;
        string path = Path.Combine(directory, DemoFileName);
        NiftiWriter.Write(path, Phantom.CtHu(d, h, w), d, h, w, SpacingMm(d, h, w), NiftiStorage.Int16,
            "Med2E3.Native synthetic CT phantom (HU)");
        return path;
    }

    /// <summary>Writes the two test samples into <paramref name="directory"/> and returns their paths.</summary>
    public static string[] WriteTestSamples(string directory)
    {
        string npy = Path.Combine(directory, TestNpyFileName);
        NpyWriter.Write(npy, Phantom.M3DStyle(8, 32, 32), 1, 8, 32, 32);
        string nii = Path.Combine(directory, TestNiftiFileName);
        NiftiWriter.Write(nii, Phantom.CtHu(8, 32, 32), 8, 32, 32, SpacingMm(8, 32, 32), NiftiStorage.Int16,
            "Med2E3.Native synthetic CT phantom (HU)");
        return [npy, nii];
    }
}
