using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cli;

/// <summary>Parsing and validation of the command line: every usage error is one line on stderr and exit code 2.</summary>
public class CommandLineTests
{
    [Fact]
    public void NoArgumentsPrintsHelp()
    {
        var r = CliRunner.Run();
        Assert.Equal(ExitCodes.Ok, r.ExitCode);
        foreach (string command in new[] { "generate", "batch", "info", "golden-check", "kernels", "bench" })
            Assert.Contains(command, r.Out);
    }

    [Fact]
    public void GenerateHelpListsEveryOption()
    {
        var r = CliRunner.Run("generate", "--help");
        Assert.Equal(ExitCodes.Ok, r.ExitCode);
        foreach (string option in new[] { "--demo", "--checkpoint", "--volume", "--question", "--device", "--max-new-tokens",
                     "--temperature", "--top-p", "--seed", "--window", "--json", "--explain", "--verbose" })
            Assert.Contains(option, r.Out);
    }

    [Theory]
    [InlineData(new[] { "bogus" }, "Unrecognized command or argument 'bogus'.")]
    [InlineData(new[] { "generate", "--demo", "--device", "gpu" }, "--device: Argument 'gpu' not recognized. Must be one of: 'auto' 'cpu' 'cuda'")]
    [InlineData(new[] { "generate", "--demo", "--window", "400,-1000" }, "--window needs LO < HI, got 400,-1000")]
    [InlineData(new[] { "generate", "--demo", "--window", "abc" }, "--window expects two numbers LO,HI (e.g. -160,240), got 'abc'")]
    [InlineData(new[] { "generate", "--demo", "--max-new-tokens", "0" }, "--max-new-tokens expects a whole number ≥ 1, got '0'")]
    [InlineData(new[] { "generate", "--demo", "--max-new-tokens", "many" }, "--max-new-tokens expects a whole number ≥ 1, got 'many'")]
    [InlineData(new[] { "generate", "--demo", "--temperature", "-1" }, "--temperature expects a number ≥ 0, got '-1'")]
    [InlineData(new[] { "generate", "--demo", "--temperature", "1", "--top-p", "1.5" }, "--top-p expects a number in (0, 1], got '1.5'")]
    [InlineData(new[] { "generate", "--demo", "--top-p", "0.9" }, "--top-p applies to sampling; add --temperature > 0")]
    [InlineData(new[] { "generate", "--demo", "--seed", "x" }, "--seed expects a whole number, got 'x'")]
    [InlineData(new[] { "generate", "--demo", "--seed", "7" }, "--seed applies to sampling; add --temperature > 0")]
    [InlineData(new[] { "generate", "--demo", "--temperature", "0", "--seed", "7" }, "--seed applies to sampling; add --temperature > 0")]
    [InlineData(new[] { "generate" }, "generate needs --checkpoint, --volume, --question (or --demo)")]
    [InlineData(new[] { "generate", "--volume", "v.npy" }, "generate needs --checkpoint, --question (or --demo)")]
    [InlineData(new[] { "generate", "--demo", "--checkpoint", "x" }, "--demo brings its own checkpoint; drop --checkpoint or drop --demo")]
    [InlineData(new[] { "batch", "--data", "d.json" }, "Option '--checkpoint' is required.")]
    [InlineData(new[] { "golden-check" }, "Option '--fixture' is required.")]
    public void UsageErrorsExitWith2AndOneMessage(string[] args, string message)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == ExitCodes.Usage, r.ToString());
        Assert.Contains($"med2e3: {message}", r.ErrLines);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void NegativeWindowBoundParsesAsAValue()
    {
        // "-1000,400" starts with '-' but is the value of --window, not an option.
        var r = CliRunner.Run("generate", "--checkpoint", "/nonexistent-ckpt", "--volume", "v.npy", "-q", "x",
            "--window", "-1000,400", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
    }

    [Fact]
    public void GoldenCheckPassesOnTheFixture()
    {
        var r = CliRunner.Run("golden-check", "--fixture", CliRunner.FixtureDir, "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("PASS:", r.Out);
    }

    [Fact]
    public void GoldenCheckOnTheFixturesCheckpointFolderNamesTheParent()
    {
        string checkpoint = Path.Combine(CliRunner.FixtureDir, "checkpoint");
        var r = CliRunner.Run("golden-check", "--fixture", checkpoint);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {checkpoint}: is the fixture's checkpoint folder; pass the fixture folder that holds it ({CliRunner.FixtureDir})"],
            r.ErrLines);
    }

    [Fact]
    public void GoldenCheckOnAnotherCheckpointFolderSaysWhatAFixtureHolds()
    {
        using var tmp = new CliRunner.TempDir();
        string checkpoint = tmp.File("ckpt");
        Directory.CreateDirectory(Path.Combine(checkpoint, "llm"));
        Directory.CreateDirectory(Path.Combine(checkpoint, "vision3d_model"));
        var r = CliRunner.Run("golden-check", "--fixture", checkpoint);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {checkpoint}: is a checkpoint folder, not a golden fixture (a fixture holds fixture.json, golden.safetensors and checkpoint/)"],
            r.ErrLines);
    }

    [Fact]
    public void GoldenCheckOnAFolderWithoutAFixture()
    {
        using var tmp = new CliRunner.TempDir();
        var r = CliRunner.Run("golden-check", "--fixture", tmp.Path);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {tmp.File("fixture.json")}: file not found"], r.ErrLines);
    }
}
