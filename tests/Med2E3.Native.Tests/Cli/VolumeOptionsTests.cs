using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Formats.Volumes.Dicom;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// The volume options every command shares (--intensity, --window, --frame, --series, --nan-to-zero), DICOM input on
/// the command line, the intensity warnings in the JSON, and --explain's formats.
/// </summary>
public class VolumeOptionsTests
{
    static string Dicom(params string[] parts) => Path.Combine([CliRunner.RepoRoot, "tests", "data", "dicom", .. parts]);

    [Theory]
    [InlineData("generate")]
    [InlineData("batch")]
    [InlineData("finetune")]
    [InlineData("bench")]
    [InlineData("preprocess")]
    public void EveryCommandThatReadsAVolumeHasTheSameVolumeOptions(string command)
    {
        var r = CliRunner.Run(command, "--help");
        Assert.Equal(ExitCodes.Ok, r.ExitCode);
        foreach (string option in new[] { "--intensity", "--window", "--frame", "--series", "--nan-to-zero" })
            Assert.Contains(option, r.Out);
        Assert.Contains("auto|as-is|minmax", r.Out);
    }

    [Theory]
    [InlineData(new[] { "generate", "--demo", "--intensity", "raw" }, "--intensity: Argument 'raw' not recognized. Must be one of: 'auto' 'as-is' 'minmax'")]
    [InlineData(new[] { "generate", "--demo", "--window", "-160,240", "--intensity", "as-is" }, "--window scales the volume to [0, 1]; it cannot be combined with --intensity as-is")]
    [InlineData(new[] { "batch", "--checkpoint", "c", "--data", "d", "--volume-root", "r", "--out", "o.json", "--frame", "-1" }, "--frame expects a whole number ≥ 0, got '-1'")]
    [InlineData(new[] { "preprocess", "--volume", "v.npy", "--out", "o.nii.gz" }, "preprocess needs the model input size: --checkpoint DIR or --size D,H,W (one of them)")]
    [InlineData(new[] { "preprocess", "--volume", "v.npy", "--out", "o.nii.gz", "--size", "8,32" }, "--size expects three whole numbers D,H,W from 1 to 4096 (e.g. 32,256,256), got '8,32'")]
    [InlineData(new[] { "preprocess", "--volume", "v.npy", "--out", "o.png", "--size", "8,32,32" }, "--out o.png: the model input is written as .nii, .nii.gz or .npy")]
    [InlineData(new[] { "generate", "--demo", "--explain", "x.gif" }, "--explain x.gif: the picture is written as PNG (.png) or JPEG (.jpg, .jpeg); give the file one of those extensions")]
    public void UsageErrors(string[] args, string message)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == ExitCodes.Usage, r.ToString());
        Assert.Contains($"med2e3: {message}", r.ErrLines);
    }

    [Fact]
    public void RawHounsfieldNpyIsScaledWithAWarningInTheJson()
    {
        // An int16 .npy in HU: before, it went into the model un-normalised with an empty warnings list.
        using var tmp = new CliRunner.TempDir();
        var rng = new Random(3);
        string path = tmp.File("hu.npy");
        File.WriteAllBytes(path, BadInputTests.Npy("(8, 32, 32)", [.. Enumerable.Range(0, 8 * 32 * 32).Select(_ => (float)rng.Next(-1000, 1500))]));
        var r = CliRunner.Run("generate", "--demo", "--volume", path, "--json", "--max-new-tokens", "2");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        string warning = Assert.Single(doc.RootElement.GetProperty("warnings").EnumerateArray()).GetString()!;
        Assert.StartsWith("values span [-1000, 1499], not [0, 1] as M3D's .npy volumes do: min–max scaled to [0, 1]", warning);

        var asIs = CliRunner.Run("generate", "--demo", "--volume", path, "--json", "--max-new-tokens", "2", "--intensity", "as-is");
        Assert.True(asIs.ExitCode == ExitCodes.Ok, asIs.ToString());
        using var doc2 = JsonDocument.Parse(asIs.Out);
        Assert.Empty(doc2.RootElement.GetProperty("warnings").EnumerateArray());
    }

    [Fact]
    public void ADicomFolderWithTwoSeriesListsThemAndSeriesPicksOne()
    {
        string folder = Dicom("series", "two-series");
        var r = CliRunner.Run("preprocess", "--volume", folder, "--size", "4,8,8", "--out", "/tmp/unused.nii.gz");
        Assert.True(r.ExitCode == ExitCodes.Usage, r.ToString());
        string line = r.ErrLines[^1];
        Assert.StartsWith($"med2e3: {folder}: holds 2 DICOM series (skipped: 1 non-DICOM file(s)); pick one with --series UID|N: 1: ", line);
        Assert.Contains("(CT #41 'AXIAL A', 7 image(s) of 24×20 in ./study/a)", line);
        Assert.Contains("; 2: ", line);
        Assert.Contains("(CT #42 'AXIAL B', 4 image(s) of 24×20 in ./study/b/deeper)", line);

        var series = DicomSeriesReader.List(folder);
        using var tmp = new CliRunner.TempDir();
        foreach (string choice in new[] { "2", series[1].SeriesInstanceUid })
        {
            string output = tmp.File($"b-{choice.Length}.nii.gz");
            var ok = CliRunner.Run("preprocess", "--volume", folder, "--series", choice, "--size", "4,8,8", "--out", output, "--json");
            Assert.True(ok.ExitCode == ExitCodes.Ok, ok.ToString());
            using var doc = JsonDocument.Parse(ok.Out);
            Assert.Equal([4, 20, 24], doc.RootElement.GetProperty("source_shape").EnumerateArray().Select(e => e.GetInt32()));
        }

        var missing = CliRunner.Run("preprocess", "--volume", folder, "--series", "3", "--size", "4,8,8", "--out", tmp.File("x.nii"));
        Assert.True(missing.ExitCode == ExitCodes.Usage, missing.ToString());
        Assert.Contains("series 3 does not exist: the folder holds 2 DICOM series", missing.ErrLines[^1]);
    }

    [Fact]
    public void TheDicomPhantomGivesTheSameModelInputAsItsNifti()
    {
        // The CT phantom of tests/data/volumes written as a DICOM series: the same canonical array, the same input.
        var nifti = VolumeReader.Read(Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", SampleVolumes.TestNiftiFileName));
        var dicom = VolumeReader.Read(Dicom("series", "phantom-ct-8x32x32"));
        Assert.Equal(nifti.Data, dicom.Data);
        Assert.Equal("LPS", dicom.SourceAxisCodes);
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(nifti.Affine![r, c], dicom.Affine![r, c], 1e-4);
            }
        }

        using var tmp = new CliRunner.TempDir();
        var a = CliRunner.Run("preprocess", "--volume", Dicom("series", "phantom-ct-8x32x32"), "--window", "-160,240",
            "--checkpoint", Path.Combine(CliRunner.FixtureDir, "checkpoint"), "--out", tmp.File("a.npy"));
        var b = CliRunner.Run("preprocess", "--volume", Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", SampleVolumes.TestNiftiFileName),
            "--window", "-160,240", "--checkpoint", Path.Combine(CliRunner.FixtureDir, "checkpoint"), "--out", tmp.File("b.npy"));
        Assert.True(a.ExitCode == ExitCodes.Ok && b.ExitCode == ExitCodes.Ok, a + "\n" + b);
        Assert.Equal(File.ReadAllBytes(tmp.File("b.npy")), File.ReadAllBytes(tmp.File("a.npy")));
    }

    [Fact]
    public void FramePicksOneVolumeOfA4DNifti()
    {
        string path = Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", "nibabel", "frames-3.nii.gz");
        using var tmp = new CliRunner.TempDir();
        var none = CliRunner.Run("preprocess", "--volume", path, "--size", "3,4,5", "--out", tmp.File("x.nii"));
        Assert.True(none.ExitCode == ExitCodes.BadInput, none.ToString());
        Assert.Contains("4-D image with 3 frames (dim[4] = 3); choose one with --frame N", none.ErrLines[^1]);
        var ok = CliRunner.Run("preprocess", "--volume", path, "--size", "3,4,5", "--frame", "2", "--out", tmp.File("f2.nii"),
            "--intensity", "as-is");
        Assert.True(ok.ExitCode == ExitCodes.Ok, ok.ToString());
        var frame2 = VolumeReader.Read(path, new VolumeReadOptions { Frame = 2 });
        var written = VolumeReader.Read(tmp.File("f2.nii"));
        var expected = Preprocess.Run(frame2, new PreprocessOptions(3, 4, 5) { Intensity = IntensityMode.AsIs });
        Assert.Equal(expected.Data, written.Data);
    }

    [Fact]
    public void ExplainAsJpegWritesJpegBytes()
    {
        using var tmp = new CliRunner.TempDir();
        string jpg = tmp.File("slices.jpg");
        var r = CliRunner.Run("generate", "--demo", "--explain", jpg, "--max-new-tokens", "2");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        byte[] bytes = File.ReadAllBytes(jpg);
        Assert.Equal([0xFF, 0xD8, 0xFF], bytes[..3]);
        Assert.Equal([0xFF, 0xD9], bytes[^2..]);
    }

    [Fact]
    public void VerboseDescribesTheVolumeOnEveryCommand()
    {
        var r = CliRunner.Run("bench", "--runs", "1", "--max-new-tokens", "1", "--verbose");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        foreach (string field in new[] { "  format:      NIfTI-1", "  orientation: stored RAS", "  spacing:     D 5 mm",
                     "  intensity:   window [-160, 240]", "  crop box:    [", "  model input: 8×32×32" })
            Assert.Contains(field, r.Err);
    }
}
