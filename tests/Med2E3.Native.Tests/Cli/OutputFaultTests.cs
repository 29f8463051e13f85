using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tests.Training;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// Faults on the way out (issue 10): a full disk or device, a closed stdout, an existing output: exit code 6 and one
/// line naming the output, and the output left as it was (no truncated PNG, no half-written checkpoint).
/// </summary>
public class OutputFaultTests(ITestOutputHelper log)
{
    static string NoSpace => "cannot write: No space left on device";

    /// <summary>The files and folders directly in <paramref name="dir"/>, by name (temporaries included).</summary>
    static string[] Names(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    // ------------------------------------------------------------------------------------------------ atomic files

    [Fact]
    public void AFailedWriteLeavesTheOldFileAndNoTemporary()
    {
        using var tmp = new CliRunner.TempDir();
        string path = tmp.File("report.json");
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            throw new InvalidOperationException("the writer fails half way");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["report.json"], Names(tmp.Path));

        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(["report.json"], Names(tmp.Path));
    }

    [Fact]
    public void AFailedFolderWriteLeavesTheOldFolderAndNoTemporary()
    {
        using var tmp = new CliRunner.TempDir();
        string out1 = tmp.File("ckpt");
        AtomicDirectory.Write(out1, overwrite: false, dir => File.WriteAllText(Path.Combine(dir, "a.txt"), "old"));
        var refused = Assert.Throws<OutputFileException>(() => AtomicDirectory.Write(out1, overwrite: false, _ => { }));
        Assert.Contains("already exists", refused.Message);
        var failed = Assert.Throws<OutputFileException>(() => AtomicDirectory.Write(out1, overwrite: true, dir =>
        {
            File.WriteAllText(Path.Combine(dir, "b.txt"), "new");
            throw new IOException("No space left on device");
        }));
        Assert.Equal($"{out1}: cannot write: No space left on device; the folder is unchanged", failed.Message);
        Assert.Equal(["a.txt"], Names(out1));
        Assert.Equal(["ckpt"], Names(tmp.Path));

        AtomicDirectory.Write(out1, overwrite: true, dir => File.WriteAllText(Path.Combine(dir, "b.txt"), "new"));
        Assert.Equal(["b.txt"], Names(out1));                     // replaced whole: a.txt is gone
        Assert.Equal(["ckpt"], Names(tmp.Path));
    }

    /// <summary>A process killed between the two renames of a replacement leaves the old folder aside; the next write puts it back first.</summary>
    [Fact]
    public void AFolderLeftAsideByADeadProcessIsPutBack()
    {
        using var tmp = new CliRunner.TempDir();
        string target = tmp.File("ckpt");
        int deadPid = DeadProcessId();
        string aside = tmp.File($".ckpt.old-{deadPid}-1");
        string partial = tmp.File($".ckpt.partial-{deadPid}-2");
        Directory.CreateDirectory(aside);
        File.WriteAllText(Path.Combine(aside, "a.txt"), "old");
        Directory.CreateDirectory(partial);
        var e = Assert.Throws<OutputFileException>(() => AtomicDirectory.Write(target, overwrite: false, _ => { }));
        Assert.Contains("already exists", e.Message);            // the old folder is back in place, and protected
        Assert.Equal(["a.txt"], Names(target));
        Assert.Equal(["ckpt"], Names(tmp.Path));
    }

    static int DeadProcessId()
    {
        using var p = System.Diagnostics.Process.Start("/bin/true")!;
        p.WaitForExit();
        return p.Id;
    }

    // ------------------------------------------------------------------------------------------------ full device

    [Fact]
    public void ExplainToAFullDeviceIsExit6NamingIt()
    {
        // --explain needs a picture extension, so the device is reached through a link named like a picture.
        using var tmp = new CliRunner.TempDir();
        string link = tmp.File("slices.png");
        File.CreateSymbolicLink(link, "/dev/full");
        var r = CliRunner.Run("generate", "--demo", "--explain", link);
        Assert.True(r.ExitCode == ExitCodes.OutputFailed, r.ToString());
        Assert.Equal($"med2e3: {link}: {NoSpace}", r.ErrLines[^1]);
        Assert.True(File.Exists("/dev/full"));                     // written directly, never renamed over
        Assert.Equal("/dev/full", new FileInfo(link).LinkTarget);  // the link is left as it was
    }

    /// <summary>Two questions on the demo volume; returns the demo checkpoint.</summary>
    static string DemoBatch(CliRunner.TempDir tmp)
    {
        var demo = DemoAssets.Extract();
        Directory.CreateDirectory(tmp.File("vols"));
        File.Copy(demo.VolumePath, tmp.File("vols/a.npy"));
        File.WriteAllText(tmp.File("data.json"), """
            [{"vision3d": "a.npy", "question": "q", "conversations": [{"from": "human", "value": "<image3d>\nq"}]},
             {"vision3d": "a.npy", "question": "r", "conversations": [{"from": "human", "value": "<image3d>\nr"}]}]
            """);
        return demo.CheckpointDir;
    }

    [Fact]
    public void BatchOutToAFullDeviceStopsAtTheFirstItem()
    {
        using var tmp = new CliRunner.TempDir();
        string checkpoint = DemoBatch(tmp);
        var r = CliRunner.Run("batch", "--checkpoint", checkpoint, "--data", tmp.File("data.json"),
            "--volume-root", tmp.File("vols"), "--out", "/dev/full", "--summary", tmp.File("summary.json"),
            "--device", "cpu", "--max-new-tokens", "2");
        Assert.True(r.ExitCode == ExitCodes.OutputFailed, r.ToString());
        Assert.Equal($"med2e3: /dev/full: {NoSpace}", r.ErrLines[^1]);
        Assert.DoesNotContain("[2/2]", r.Err, StringComparison.Ordinal);           // refused after the first answer
        Assert.False(File.Exists(tmp.File("summary.json")));
    }

    /// <summary>A device output is written directly (never renamed over), with no summary file next to it.</summary>
    [Fact]
    public void BatchOutToStdoutStreamsOneLinePerItem()
    {
        using var tmp = new CliRunner.TempDir();
        string checkpoint = DemoBatch(tmp);
        using var p = CliProcess.Start(["batch", "--checkpoint", checkpoint, "--data", tmp.File("data.json"),
            "--volume-root", tmp.File("vols"), "--out", "/dev/stdout", "--device", "cpu", "--max-new-tokens", "2"]);
        List<string> lines = p.RemainingLines(TimeSpan.FromSeconds(120));
        Assert.Equal(ExitCodes.Ok, p.WaitForExit(TimeSpan.FromSeconds(120)));
        Assert.Equal(["q", "r"], lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement
            .GetProperty("question").GetString()));
        Assert.Contains(lines, l => l.StartsWith("answered 2/2 in ", StringComparison.Ordinal) && l.EndsWith("→ /dev/stdout"));
    }

    sealed class FullWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => throw new IOException("No space left on device");
        public override void Write(string? value) => throw new IOException("No space left on device");
        public override void Write(char[] buffer, int index, int count) => throw new IOException("No space left on device");
    }

    [Fact]
    public void AStdoutThatFailsIsExit6()
    {
        var err = new StringWriter();
        int code = Program.Run(["generate", "--demo", "--json"], new StdoutWriter(new FullWriter()), err);
        Assert.Equal(ExitCodes.OutputFailed, code);
        Assert.Equal($"med2e3: stdout: {NoSpace}", err.ToString().Trim());
    }

    [Theory]
    [InlineData(">/dev/full", "cannot write: No space left on device")]
    [InlineData(">&-", "cannot write: stdout is closed or not writable")]
    public void AFullOrClosedStdoutIsExit6(string redirect, string problem)
    {
        using var p = CliProcess.Start(["generate", "--demo"], redirect);
        int code = p.WaitForExit(TimeSpan.FromSeconds(120));
        log.WriteLine(p.Err);
        Assert.Equal(ExitCodes.OutputFailed, code);
        Assert.Equal($"med2e3: stdout: {problem}", p.ErrLines[^1]);
    }

    // ------------------------------------------------------------------------------------------------ full disk

    [Fact]
    public void ExplainOnAFullDiskKeepsTheOldPng()
    {
        using var disk = SmallDisk.Mount(256);
        string png = disk.File("slices.png");
        File.WriteAllBytes(png, [1, 2, 3]);
        disk.Fill();
        var r = CliRunner.Run("generate", "--demo", "--explain", png);
        Assert.True(r.ExitCode == ExitCodes.OutputFailed, r.ToString());
        Assert.Equal($"med2e3: {png}: {NoSpace}", r.ErrLines[^1]);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(png));
        Assert.Equal([".filler", "slices.png"], Names(disk.Path));
    }

    [Fact]
    public void FinetuneOnAFullDiskKeepsTheOldCheckpoint()
    {
        using var tmp = FinetuneData();
        using var disk = SmallDisk.Mount(3072);                  // room for one tiny checkpoint (2.2 MB), not two
        string output = disk.File("ft");
        Assert.Equal(ExitCodes.Ok, Finetune(tmp, output, "--max-steps", "1").ExitCode);
        var before = Snapshot(output);
        var r = Finetune(tmp, output, "--max-steps", "1", "--overwrite", "--lr", "1e-2");
        log.WriteLine(r.Err);
        Assert.True(r.ExitCode == ExitCodes.OutputFailed, r.ToString());
        string line = r.ErrLines[^1];
        log.WriteLine(line);
        Assert.StartsWith($"med2e3: {output}: cannot write", line);
        Assert.EndsWith("No space left on device; the folder is unchanged", line);
        Assert.Equal(before, Snapshot(output));
        Assert.Equal(["ft"], Names(disk.Path));
    }

    // ------------------------------------------------------------------------------------------------ finetune

    internal static CliRunner.TempDir FinetuneData()
    {
        var tmp = new CliRunner.TempDir();
        Directory.CreateDirectory(tmp.File("vols"));
        NpyWriter.Write(tmp.File("vols/a.npy"), FineTunerTests.RandomVolume(1), FineTunerTests.D, FineTunerTests.H, FineTunerTests.W);
        NpyWriter.Write(tmp.File("vols/b.npy"), FineTunerTests.RandomVolume(2), FineTunerTests.D, FineTunerTests.H, FineTunerTests.W);
        File.WriteAllText(tmp.File("data.json"), """
            [{"vision3d": "a.npy", "question": "What abnormality is seen in the liver?",
              "conversations": [{"from": "human", "value": "<image3d>\nWhat abnormality is seen in the liver?"},
                                {"from": "gpt", "value": "A hypodense lesion."}]},
             {"vision3d": "b.npy", "question": "Which organ is enlarged?",
              "conversations": [{"from": "human", "value": "<image3d>\nWhich organ is enlarged?"},
                                {"from": "gpt", "value": "The spleen."}]}]
            """);
        return tmp;
    }

    internal static string[] FinetuneArgs(CliRunner.TempDir tmp, string output, params string[] extra) =>
    [
        "finetune", "--checkpoint", Path.Combine(CliRunner.FixtureDir, "checkpoint"), "--data", tmp.File("data.json"),
        "--volume-root", tmp.File("vols"), "--out", output, "--device", "cpu", "--no-augment", .. extra,
    ];

    static CliRunner.Result Finetune(CliRunner.TempDir tmp, string output, params string[] extra) =>
        CliRunner.Run(FinetuneArgs(tmp, output, extra));

    /// <summary>Every file of a folder (relative path → bytes hash), for before/after comparisons.</summary>
    internal static Dictionary<string, string> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(dir, f),
            f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void AnExistingOutIsRefusedUnlessOverwriteAndThenReplacedWhole()
    {
        using var tmp = FinetuneData();
        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "OLD_MARKER"), "from an earlier run");

        var refused = Finetune(tmp, output, "--max-steps", "1");
        Assert.True(refused.ExitCode == ExitCodes.OutputFailed, refused.ToString());
        Assert.Equal($"med2e3: {output}: already exists; add --overwrite to replace it (whole, when the new one is complete)",
            refused.ErrLines[^1]);
        Assert.Equal(["OLD_MARKER"], Names(output));

        var replaced = Finetune(tmp, output, "--max-steps", "1", "--overwrite");
        Assert.True(replaced.ExitCode == ExitCodes.Ok, replaced.ToString());
        Assert.DoesNotContain("OLD_MARKER", Names(output));
        Assert.Contains(Models.Training.FineTuner.StateFile, Names(output));
        Assert.Equal(["data.json", "out", "vols"], Names(tmp.Path));
    }

    [Fact]
    public void CtrlCStopsAtAStepBoundaryAndNamesTheLastCompleteCheckpoint()
    {
        using var tmp = FinetuneData();
        string output = tmp.File("out");
        using var p = CliProcess.Start(FinetuneArgs(tmp, output, "--max-steps", "500", "--save-every", "2", "--json"));
        string? saved = p.ReadUntil(l => l.Contains("\"event\":\"saved\""), TimeSpan.FromSeconds(120));
        Assert.True(saved is not null, p.Err);
        p.Signal(CliProcess.SigInt);
        List<string> rest = p.RemainingLines(TimeSpan.FromSeconds(120));
        int code = p.WaitForExit(TimeSpan.FromSeconds(120));
        log.WriteLine(p.Err);
        Assert.Equal(ExitCodes.Interrupted, code);

        using var interrupted = JsonDocument.Parse(rest.Single(l => l.Contains("\"event\":\"interrupted\"")));
        int step = interrupted.RootElement.GetProperty("step").GetInt32();
        int savedStep = interrupted.RootElement.GetProperty("last_checkpoint_step").GetInt32();
        Assert.Equal(output, interrupted.RootElement.GetProperty("last_checkpoint").GetString());
        Assert.InRange(savedStep, 2, step);
        Assert.True(step < 500, "the run went on to the end");
        Assert.Equal($"med2e3: interrupted after step {step} of 500; the last complete checkpoint is {output} (step {savedStep})",
            p.ErrLines[^1]);
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, Models.Training.FineTuner.StateFile)));
        Assert.Equal(savedStep, state.RootElement.GetProperty("step").GetInt32());
        Assert.True(Models.Weights.Med2E3Checkpoint.Open(output).Report.IsValid);
        Assert.Equal(["data.json", "out", "vols"], Names(tmp.Path));
    }
}
