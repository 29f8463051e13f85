using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// Bad input files and devices: one line on stderr naming the file and the problem, the documented exit code, and no
/// stack trace unless --verbose.
/// </summary>
public class BadInputTests
{
    static string Checkpoint => Path.Combine(CliRunner.FixtureDir, "checkpoint");

    [Fact]
    public void MissingCheckpointFolder()
    {
        using var tmp = new CliRunner.TempDir();
        string dir = tmp.File("no-such-checkpoint");
        var r = CliRunner.Run("generate", "--checkpoint", dir, "--volume", tmp.File("v.npy"), "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        Assert.Equal([$"med2e3: {dir}: checkpoint folder not found"], r.ErrLines);
    }

    [Fact]
    public void MissingVolumeFile()
    {
        using var tmp = new CliRunner.TempDir();
        string volume = tmp.File("missing.nii.gz");
        var r = CliRunner.Run("generate", "--checkpoint", Checkpoint, "--volume", volume, "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {volume}: volume file not found"], r.ErrLines);
    }

    [Fact]
    public void VolumeIsAFolder()
    {
        using var tmp = new CliRunner.TempDir();
        var r = CliRunner.Run("generate", "--checkpoint", Checkpoint, "--volume", tmp.Path, "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {tmp.Path}: is a folder; --volume expects a .npy, .nii or .nii.gz file"], r.ErrLines);
    }

    [Fact]
    public void BatchMissingDataFile()
    {
        using var tmp = new CliRunner.TempDir();
        string data = tmp.File("missing.json");
        var r = CliRunner.Run("batch", "--checkpoint", Checkpoint, "--data", data, "--volume-root", tmp.Path,
            "--out", tmp.File("out.json"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {data}: data file not found"], r.ErrLines);
    }

    [Fact]
    public void CudaRequestedWithoutAGpu()
    {
        if (DeviceChoice.Resolve("auto") == "cuda") Assert.Skip("a CUDA device is present on this machine");
        var r = CliRunner.Run("generate", "--demo", "--device", "cuda");
        Assert.True(r.ExitCode == ExitCodes.DeviceUnavailable, r.ToString());
        Assert.Single(r.ErrLines);
        Assert.StartsWith("med2e3: --device cuda: ", r.ErrLines[0]);
    }
}
