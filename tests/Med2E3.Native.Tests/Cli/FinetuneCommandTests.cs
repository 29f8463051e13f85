using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tests.Training;

namespace Med2E3.Native.Tests.Cli;

/// <summary><c>med2e3 finetune</c> in-process on the tiny fixture checkpoint: a full run, --json, and bad inputs.</summary>
public class FinetuneCommandTests
{
    const string Data = """
        [
         {"id": "a", "vision3d": "a.npy", "question": "What abnormality is seen in the liver?",
          "conversations": [{"from": "human", "value": "<image3d>\nWhat abnormality is seen in the liver?"},
                            {"from": "gpt", "value": "A hypodense lesion."}]},
         {"id": "b", "vision3d": "sub/b.npy", "question": "Which organ is enlarged?",
          "conversations": [{"from": "human", "value": "<image3d>\nWhich organ is enlarged?"},
                            {"from": "gpt", "value": "The spleen."}]}
        ]
        """;

    static string Checkpoint => Path.Combine(CliRunner.FixtureDir, "checkpoint");

    static CliRunner.TempDir Setup(string data = Data)
    {
        var tmp = new CliRunner.TempDir();
        Directory.CreateDirectory(tmp.File("vols/sub"));
        NpyWriter.Write(tmp.File("vols/a.npy"), FineTunerTests.RandomVolume(1), FineTunerTests.D, FineTunerTests.H, FineTunerTests.W);
        NpyWriter.Write(tmp.File("vols/sub/b.npy"), FineTunerTests.RandomVolume(2), FineTunerTests.D, FineTunerTests.H, FineTunerTests.W);
        File.WriteAllText(tmp.File("data.json"), data);
        return tmp;
    }

    /// <summary>Runs finetune with the test's defaults; an option in <paramref name="extra"/> replaces its default.</summary>
    static CliRunner.Result Finetune(CliRunner.TempDir tmp, params string[] extra)
    {
        var options = new List<(string Name, string? Value)>
        {
            ("--checkpoint", Checkpoint), ("--data", tmp.File("data.json")), ("--volume-root", tmp.File("vols")),
            ("--out", tmp.File("out")), ("--device", "cpu"), ("--max-steps", "3"), ("--lr", "1e-3"),
        };
        for (int i = 0; i < extra.Length; i++)
        {
            bool flag = i + 1 >= extra.Length || extra[i + 1].StartsWith("--", StringComparison.Ordinal);
            string? value = flag ? null : extra[i + 1];
            options.RemoveAll(o => o.Name == extra[i]);
            options.Add((extra[i], value));
            if (!flag) i++;
        }
        return CliRunner.Run(["finetune", .. options.SelectMany(o => o.Value is null ? [o.Name] : new[] { o.Name, o.Value })]);
    }

    [Fact]
    public void TrainsLogsEveryStepAndSavesALoadableCheckpoint()
    {
        using var tmp = Setup();
        var r = Finetune(tmp, "--grad-accum", "2", "--seed", "3");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        string[] lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("step 1/3  epoch 1  loss ", lines[0]);
        Assert.Contains("lr 0.000e+00", lines[0]);                                         // warmup of 1 step starts at 0
        Assert.StartsWith("step 3/3  epoch 3  loss ", lines[2]);
        Assert.Contains(" samples/s  ETA ", lines[2]);
        Assert.StartsWith("trained 3 steps (6 samples) in ", lines[3]);
        // Redirected output gets each step once: the step line, and no progress line on stderr.
        Assert.DoesNotContain("[3/3]", r.Err);
        Assert.DoesNotContain("loss", r.Err);
        Assert.Contains("2 samples, 3 steps (1 per epoch, grad-accum 2), warmup 1", r.Err);

        var saved = Med2E3Checkpoint.Open(tmp.File("out"));
        Assert.True(saved.Report.IsValid, string.Join("; ", saved.Report.Problems));
        Assert.Equal(File.ReadAllBytes(Path.Combine(Checkpoint, "vision3d_model", "pytorch_model.bin")),
            File.ReadAllBytes(tmp.File("out/vision3d_model/pytorch_model.bin")));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(Checkpoint, "vision2d_connector", "pytorch_model.bin")),
            File.ReadAllBytes(tmp.File("out/vision2d_connector/pytorch_model.bin")));
    }

    [Fact]
    public void JsonWritesOneLinePerStepAndAFinalLine()
    {
        using var tmp = Setup();
        var r = Finetune(tmp, "--json", "--no-augment", "--no-dropout", "--warmup-ratio", "0");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal("", r.Err);
        string[] lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        for (int i = 0; i < 3; i++)
        {
            using var step = JsonDocument.Parse(lines[i]);
            var e = step.RootElement;
            Assert.Equal("step", e.GetProperty("event").GetString());
            Assert.Equal(i + 1, e.GetProperty("step").GetInt32());
            Assert.Equal(3, e.GetProperty("total_steps").GetInt32());
            Assert.Equal(1e-3 * 0.5 * (1 + Math.Cos(Math.PI * i / 3.0)), e.GetProperty("learning_rate").GetDouble(), 1e-12);
            Assert.True(double.IsFinite(e.GetProperty("loss").GetDouble()));
            Assert.True(e.GetProperty("grad_norm").GetDouble() > 0);
        }
        using var done = JsonDocument.Parse(lines[3]);
        Assert.Equal("done", done.RootElement.GetProperty("event").GetString());
        Assert.Equal(3, done.RootElement.GetProperty("samples").GetInt32());
        Assert.False(done.RootElement.GetProperty("options").GetProperty("augment").GetBoolean());
        Assert.True(File.Exists(tmp.File("out/llm/pytorch_model.bin")));
    }

    static void AssertOneLine(CliRunner.Result r, int code, params string[] parts)
    {
        Assert.True(r.ExitCode == code, r.ToString());
        // One error line, the last one (a stage may have printed "… failed" before it).
        string error = Assert.Single(r.ErrLines, l => l.StartsWith("med2e3: ", StringComparison.Ordinal));
        Assert.Equal(error, r.ErrLines[^1]);
        foreach (string p in parts) Assert.Contains(p, error);
    }

    [Fact]
    public void BadDataGivesOneLineAndExit3()
    {
        using (var tmp = Setup())
        {
            File.Delete(tmp.File("data.json"));
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "data.json: data file not found");
        }
        using (var tmp = Setup("[{\"vision3d\": \"a.npy\", "))
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "data.json", "invalid JSON");
        using (var tmp = Setup("""[{"vision3d": "a.npy", "question": "q"}]"""))
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "data.json", "item 0", "conversations");
        using (var tmp = Setup(Data.Replace("""{"from": "gpt", "value": "The spleen."}""", """{"from": "human", "value": "More?"}""")))
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "item 1", "field 'conversations'", "no gpt answer");
        using (var tmp = Setup(Data.Replace("sub/b.npy", "missing.npy")))
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "item 1", "field 'vision3d'", "missing.npy: volume file not found");
        using (var tmp = Setup())
        {
            File.WriteAllText(tmp.File("vols/sub/b.npy"), "not a numpy file");
            AssertOneLine(Finetune(tmp), ExitCodes.BadInput, "item 1", "b.npy");
        }
        using (var tmp = Setup())
            AssertOneLine(Finetune(tmp, "--volume-root", tmp.File("nowhere")), ExitCodes.BadInput, "volume root folder not found");
    }

    [Fact]
    public void CheckpointOutputAndUsageErrors()
    {
        using var tmp = Setup();
        AssertOneLine(Finetune(tmp, "--checkpoint", tmp.File("nothing")), ExitCodes.Checkpoint, "checkpoint folder not found");
        Directory.CreateDirectory(tmp.File("empty-ckpt"));
        AssertOneLine(Finetune(tmp, "--checkpoint", tmp.File("empty-ckpt")), ExitCodes.Checkpoint, "empty-ckpt");
        File.WriteAllText(tmp.File("a-file"), "");
        AssertOneLine(Finetune(tmp, "--out", tmp.File("a-file")), ExitCodes.OutputFailed, "a-file");
        AssertOneLine(Finetune(tmp, "--out", tmp.File("a-file/below")), ExitCodes.OutputFailed, "a-file");
        AssertOneLine(Finetune(tmp, "--out", Path.Combine(Checkpoint, "llm")), ExitCodes.OutputFailed, "overlap");
        var usage = Finetune(tmp, "--lr", "-1");
        Assert.True(usage.ExitCode == ExitCodes.Usage, usage.ToString());
        Assert.Contains("--lr expects a number ≥ 0, got '-1'", usage.Err);
        usage = Finetune(tmp, "--warmup-ratio", "2");
        Assert.True(usage.ExitCode == ExitCodes.Usage, usage.ToString());
        Assert.False(Directory.Exists(tmp.File("out/llm")));
    }
}
