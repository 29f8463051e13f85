using System.Diagnostics;
using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Models.Training;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// A process killed (SIGKILL) in the middle of its work (issue 10): a fine-tune killed during a save leaves at
/// <c>--out</c> the old checkpoint or the complete new one, never a mix of components; a batch keeps a complete JSON
/// line for every item it answered.
/// </summary>
public class KillTests(ITestOutputHelper log)
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(180);

    [Fact]
    public void AKillDuringASaveLeavesTheOldOrTheNewCheckpointNeverAMix()
    {
        using var tmp = OutputFaultTests.FinetuneData();
        string output = tmp.File("out");
        BadInputTests.CopyDirectory(Path.Combine(CliRunner.FixtureDir, "checkpoint"), output);
        BadInputTests.CopyDirectory(Path.Combine(CliRunner.FixtureDir, "text_tokenizer"), Path.Combine(output, "text_tokenizer"));
        File.WriteAllText(Path.Combine(output, "OLD_MARKER"), "the checkpoint that was there before");
        string[] args = OutputFaultTests.FinetuneArgs(tmp, output, "--max-steps", "200", "--save-every", "1", "--overwrite",
            "--lr", "1e-2", "--warmup-ratio", "0", "--json");
        var rng = new Random(11);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            using (var p = CliProcess.Start(args))
            {
                // Attempt n lets n saves complete, then kills the process during the next one (or just after it):
                // a save is under way while its temporary folder is there.
                for (int saves = 0; saves < attempt; saves++)
                    Assert.True(p.ReadUntil(l => l.Contains("\"event\":\"saved\""), Long) is not null, p.Err);
                var clock = Stopwatch.StartNew();
                while (!Directory.EnumerateDirectories(tmp.Path, $".out.partial-{p.Id}-*").Any() && clock.Elapsed < Long)
                    Thread.Sleep(1);
                Thread.Sleep(rng.Next(0, 200));
                p.Signal(CliProcess.SigKill);
                Assert.Equal(128 + CliProcess.SigKill, p.WaitForExit(Long));
            }
            string state = Path.Combine(output, FineTuner.StateFile);
            string seen = !Directory.Exists(output) ? "absent"
                : File.Exists(state) ? $"step {JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("step")}"
                : "the old checkpoint";
            log.WriteLine($"attempt {attempt}: --out is {seen}; next to it: "
                + string.Join(", ", Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName)));
            if (!Directory.Exists(output))
            {
                // Killed between the two renames of a replacement: the old checkpoint waits aside, whole.
                Assert.Single(Directory.EnumerateDirectories(tmp.Path, ".out.old-*"));
                continue;
            }
            var ckpt = Med2E3Checkpoint.Open(output);
            Assert.True(ckpt.Report.IsValid, string.Join("; ", ckpt.Report.Problems));
            if (File.Exists(state))
            {
                Assert.False(File.Exists(Path.Combine(output, "OLD_MARKER")));
                int step = JsonDocument.Parse(File.ReadAllText(state)).RootElement.GetProperty("step").GetInt32();
                AssertWeightsOfStep(tmp, ckpt, step);
            }
            else
            {
                Assert.True(File.Exists(Path.Combine(output, "OLD_MARKER")));
            }
        }

        // The next run puts back what a kill left aside, removes the dead runs' temporaries and finishes.
        var r = CliRunner.Run(OutputFaultTests.FinetuneArgs(tmp, output, "--max-steps", "1", "--overwrite"));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal(["data.json", "out", "vols"],
            Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// Every trained tensor of <paramref name="saved"/> is the value the same recipe reaches after
    /// <paramref name="step"/> steps in this process: all four trained components come from that one step.
    /// </summary>
    void AssertWeightsOfStep(CliRunner.TempDir tmp, Med2E3Checkpoint saved, int step)
    {
        using var model = Med2E3Model.Load(Path.Combine(CliRunner.FixtureDir, "checkpoint"), "cpu");
        var options = new FineTuneOptions
        {
            LearningRate = 1e-2, MaxSteps = 200, WarmupRatio = 0, Augment = false,
        };
        var items = CommonOptions.LoadM3DItems(tmp.File("data.json"));
        var samples = items.Select(item =>
        {
            string path = Path.GetFullPath(Path.Combine(tmp.File("vols"), item.Vision3D[0]));
            return FineTuneSample.FromConversation(model, $"item {item.Index} ({Path.GetFileName(path)})",
                () =>
                {
                    var (_, prepared) = VolumeInput.Read(path, model.Checkpoint.Vision3DConfig.ImgSize, VolumeOptions.Values.Default);
                    using var input = prepared;
                    return input.Data;
                }, item.Question, item.Conversations);
        }).ToList();
        using var tuner = new FineTuner(model, options, samples.Count);
        using var stop = new CancellationTokenSource();
        try
        {
            tuner.Train(samples, s =>
            {
                if (s.Step == step) stop.Cancel();
            }, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
        Assert.Equal(step, tuner.StepsDone);
        var source = Med2E3Checkpoint.Open(Path.Combine(CliRunner.FixtureDir, "checkpoint"));
        static double Worst(float[] want, float[] got) => want.Zip(got, (a, b) => Math.Abs(a - b) / (1e-3 + Math.Abs(a))).Max();
        int compared = 0;
        foreach (CheckpointComponent component in saved.Components)
        {
            if (!FineTuner.TrainedComponents.Contains(component.Name)) continue;
            double moved = 0;
            foreach (WeightTensor t in component.Weights.Tensors)
            {
                string name = component.Name + "." + t.Name;
                if (!model.Parameters.Contains(name)) continue;
                float[] want = WeightTensor.FromFloat32(t.Name, t.GetShape(), model.Parameters[name].ToFloatArray(), t.DType)
                    .ToFloat32();
                float[] got = t.ToFloat32();
                double worst = Worst(want, got);
                Assert.True(worst < 1e-4, $"{name} of the step-{step} checkpoint differs from step {step} by {worst:G3}");
                moved = Math.Max(moved, Worst(source.Components.Single(c => c.Name == component.Name).Weights[t.Name].ToFloat32(), got));
                compared++;
            }
            // The comparison tells steps apart: one step of this recipe moves every component well beyond the tolerance.
            Assert.True(moved > 1e-2, $"{component.Name} moved only {moved:G3} from the source in {step} step(s)");
        }
        Assert.True(compared > 10, $"only {compared} tensors compared");
    }

    [Fact]
    public void AKilledBatchKeepsACompleteLineForEveryItemItAnswered()
    {
        using var tmp = new CliRunner.TempDir();
        var demo = DemoAssets.Extract();
        Directory.CreateDirectory(tmp.File("vols"));
        File.Copy(demo.VolumePath, tmp.File("vols/a.npy"));
        var items = Enumerable.Range(0, 200).Select(i =>
            $$"""{"id": "q{{i}}", "vision3d": "a.npy", "question": "Question {{i}}?", "conversations": [{"from": "human", "value": "<image3d>\nQuestion {{i}}?"}]}""");
        File.WriteAllText(tmp.File("data.json"), "[" + string.Join(",\n", items) + "]");
        string answers = tmp.File("answers.jsonl");
        using (var p = CliProcess.Start(["batch", "--checkpoint", demo.CheckpointDir, "--data", tmp.File("data.json"),
                   "--volume-root", tmp.File("vols"), "--out", answers, "--device", "cpu", "--max-new-tokens", "2"]))
        {
            var clock = Stopwatch.StartNew();
            while ((!File.Exists(answers) || File.ReadAllLines(answers).Length < 3) && clock.Elapsed < Long)
                Thread.Sleep(5);
            p.Signal(CliProcess.SigKill);
            Assert.Equal(128 + CliProcess.SigKill, p.WaitForExit(Long));
        }
        string text = File.ReadAllText(answers);
        string[] lines = text.Split('\n');
        log.WriteLine($"{lines.Length - 1} complete lines kept; the last character is {(text.EndsWith('\n') ? "a newline" : "not a newline")}");
        // Whole lines only: each item's line is written in one piece and flushed before the next item starts.
        Assert.EndsWith("\n", text);
        Assert.InRange(lines.Length - 1, 3, 199);
        for (int i = 0; i < lines.Length - 1; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            Assert.Equal($"q{i}", line.RootElement.GetProperty("id").GetString());
            Assert.Equal(JsonValueKind.String, line.RootElement.GetProperty("answer").ValueKind);
        }
        Assert.False(File.Exists(BatchCommand.DefaultSummaryPath(answers)));
    }
}
