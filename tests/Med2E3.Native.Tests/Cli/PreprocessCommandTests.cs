using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// <c>med2e3 preprocess</c>: the file it writes is exactly the model input (the same values the other commands feed the
/// model), and its affine puts every model voxel on the world point it was sampled from, so it overlays the original.
/// </summary>
public class PreprocessCommandTests
{
    static string Checkpoint => Path.Combine(CliRunner.FixtureDir, "checkpoint");

    [Theory]
    [InlineData("nibabel/oblique-x-35y-35z-17.5-xyz-aniso.nii")]
    [InlineData("nibabel/axes-37.nii")]
    [InlineData("phantom-ct-8x32x32.nii.gz")]
    public void WritesTheModelInputWithAnAffineThatOverlaysTheOriginal(string name)
    {
        string path = Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", name);
        using var tmp = new CliRunner.TempDir();
        string output = tmp.File("model-input.nii.gz");
        var r = CliRunner.Run("preprocess", "--volume", path, "--checkpoint", Checkpoint, "--out", output, "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());

        // The values: what VolumeInput gives every command for the model (auto intensity, crop, resize to img_size).
        var source = VolumeReader.Read(path);
        var expected = Preprocess.Run(VolumeReader.Read(path), new PreprocessOptions(8, 32, 32));
        var written = VolumeReader.Read(output);
        Assert.Equal((8, 32, 32), (written.Depth, written.Height, written.Width));
        Assert.Equal(source.SourceAxisCodes, written.SourceAxisCodes); // stored in the source's axis order
        Assert.Equal(expected.Data, written.Data);

        // Written in the canonical order, a strongly oblique input would be reoriented differently by io_orientation.
        // The geometry: model voxel o along an axis samples source index box₀ + (o + ½)·n/m − ½ (align_corners = False);
        // its world point through the written affine must be the source's world point of that index.
        var box = expected.Crop;
        var a = written.Affine!;
        var s = source.Affine!;
        foreach (var (d, h, w) in new[] { (0, 0, 0), (7, 31, 31), (3, 10, 20) })
        {
            double sd = box.D0 + (d + 0.5) * box.Depth / 8.0 - 0.5;
            double sh = box.H0 + (h + 0.5) * box.Height / 32.0 - 0.5;
            double sw = box.W0 + (w + 0.5) * box.Width / 32.0 - 0.5;
            for (int row = 0; row < 3; row++)
            {
                double world = s[row, 0] * sw + s[row, 1] * sh + s[row, 2] * sd + s[row, 3];
                double mapped = a[row, 0] * w + a[row, 1] * h + a[row, 2] * d + a[row, 3];
                Assert.True(Math.Abs(world - mapped) < 1e-3, $"{name} voxel ({d}, {h}, {w}) row {row}: {mapped} vs {world}");
            }
        }

        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal([8, 32, 32], root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(expected.Intensity, root.GetProperty("intensity").GetString());
        Assert.Equal([box.D0, box.D1, box.H0, box.H1, box.W0, box.W1], root.GetProperty("crop_box").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void NpyOutputIsTheM3DLayoutAndBf16RoundsAsTheGpuModelDoes()
    {
        string path = Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", "phantom-ct-8x32x32.nii.gz");
        using var tmp = new CliRunner.TempDir();
        var r = CliRunner.Run("preprocess", "--volume", path, "--size", "8,16,16", "--window", "-160,240", "--bf16",
            "--out", tmp.File("x.npy"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var v = NpyReader.Read(tmp.File("x.npy"));
        Assert.Contains("shape (1, 8, 16, 16)", v.FormatDetails);
        var expected = Preprocess.Run(VolumeReader.Read(path), new PreprocessOptions(8, 16, 16)
        {
            Window = (-160f, 240f),
            RoundToBf16 = true,
        });
        Assert.Equal(expected.Data, v.Data);
    }

    [Fact]
    public void AVolumeWithoutGeometryIsWrittenWithUnitVoxelsAndAWarning()
    {
        using var tmp = new CliRunner.TempDir();
        var r = CliRunner.Run("preprocess", "--volume", Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes",
            SampleVolumes.TestNpyFileName), "--size", "8,32,32", "--out", tmp.File("x.nii"), "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Contains("carries no geometry", Assert.Single(doc.RootElement.GetProperty("warnings").EnumerateArray()).GetString());
        Assert.Equal(VolumeFileFormat.Nifti1, VolumeReader.Read(tmp.File("x.nii")).Format);
    }
}
