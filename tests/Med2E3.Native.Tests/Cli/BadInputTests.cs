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

    [Fact]
    public void InfoSummarisesTheFixtureCheckpoint()
    {
        var r = CliRunner.Run("info", "--checkpoint", Checkpoint);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("CUDA", r.Out);
        Assert.Contains("NVRTC", r.Out);
        Assert.Contains("OK: every tensor matches the configs", r.Out);
    }

    [Fact]
    public void CheckpointThatDoesNotMatchItsConfig()
    {
        using var tmp = new CliRunner.TempDir();
        string copy = Path.Combine(tmp.Path, "checkpoint");
        CopyDirectory(CliRunner.FixtureDir, tmp.Path);
        string config = Path.Combine(copy, "llm", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"));

        var r = CliRunner.Run("info", "--checkpoint", copy);
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        string weights = Path.Combine(copy, "llm", "pytorch_model.bin");
        Assert.Equal([$"error: {weights}: tensor 'model.layers.0.mlp.gate_up_proj.weight' has shape [192,64], "
            + "the config expects [256,64] (and 3 more, listed above)"], r.ErrLines);
        Assert.DoesNotContain("   at ", r.Err);
    }

    internal static void CopyDirectory(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
