using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Tests.Cuda.Cli;

/// <summary>
/// The whole network through the <c>med2e3</c> commands with <c>--device cuda</c>: the golden check at the bf16
/// limits, the demo and a short fine-tuning run, each compared with the same command on the CPU (bf16 on the device,
/// f32 on the CPU: the golden check's bf16 bounds). The numerics of device training are compared more closely by
/// <see cref="Model.TrainingOnTheDeviceTests"/>.
/// </summary>
public class DeviceCommandTests(ITestOutputHelper log)
{
    [CudaFact]
    public void GoldenCheckPassesOnTheDeviceInBf16()
    {
        var r = CliRun.Run("golden-check", "--fixture", CliRun.Fixture, "--device", "cuda");
        log.WriteLine(r.Out);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("on cuda:0 (bf16)", r.Out, StringComparison.Ordinal);
        Assert.Contains("PASS: 125 checks, all within tolerance", r.Out, StringComparison.Ordinal);
    }

    [CudaFact]
    public void TheDemoOnTheDeviceGivesTheReferenceTokensAndTheCpuSliceScores()
    {
        using var cpu = Json(CliRun.Run("generate", "--demo", "--device", "cpu", "--json"));
        using var cuda = Json(CliRun.Run("generate", "--demo", "--device", "cuda", "--json"));
        JsonElement c = cpu.RootElement, g = cuda.RootElement;
        Assert.Equal("cuda", g.GetProperty("device").GetString());
        Assert.True(g.GetProperty("matches_reference").GetBoolean());
        Assert.Equal(Ints(c.GetProperty("token_ids")), Ints(g.GetProperty("token_ids")));
        Assert.Equal(c.GetProperty("stop_reason").GetString(), g.GetProperty("stop_reason").GetString());
        // bf16 on the device against f32 on the CPU: the golden check's bf16 output bound, relative L2 ≤ 2e-2.
        AssertRelativeL2(Doubles(c.GetProperty("slice_scores")), Doubles(g.GetProperty("slice_scores")), 2e-2, "slice scores");
    }

    [CudaFact]
    public void FinetuneOnTheDeviceFollowsTheCpu()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("vols"));
        NpyWriter.Write(tmp.File("vols/a.npy"), RandomVolume(1), 1, 8, 32, 32);
        NpyWriter.Write(tmp.File("vols/b.npy"), RandomVolume(2), 1, 8, 32, 32);
        File.WriteAllText(tmp.File("data.json"), """
            [
             {"id": "a", "vision3d": "a.npy", "question": "What abnormality is seen in the liver?",
              "conversations": [{"from": "human", "value": "<image3d>\nWhat abnormality is seen in the liver?"},
                                {"from": "gpt", "value": "A hypodense lesion."}]},
             {"id": "b", "vision3d": "b.npy", "question": "Which organ is enlarged?",
              "conversations": [{"from": "human", "value": "<image3d>\nWhich organ is enlarged?"},
                                {"from": "gpt", "value": "The spleen."}]}
            ]
            """);
        List<JsonDocument> Steps(string device)
        {
            var r = CliRun.Run("finetune", "--checkpoint", Path.Combine(CliRun.Fixture, "checkpoint"),
                "--data", tmp.File("data.json"), "--volume-root", tmp.File("vols"), "--out", tmp.File("out-" + device),
                "--device", device, "--max-steps", "3", "--lr", "1e-3", "--seed", "3", "--json", "--no-augment",
                "--no-dropout");
            Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
            log.WriteLine($"{device}:\n{r.Out}");
            return [.. r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l))];
        }

        var cpu = Steps("cpu");
        var cuda = Steps("cuda");
        try
        {
            Assert.Equal(cpu.Count, cuda.Count);
            for (int i = 0; i < cpu.Count - 1; i++)
            {
                JsonElement c = cpu[i].RootElement, g = cuda[i].RootElement;
                Assert.Equal("step", g.GetProperty("event").GetString());
                Assert.Equal(c.GetProperty("learning_rate").GetDouble(), g.GetProperty("learning_rate").GetDouble());
                AssertRelative(c.GetProperty("loss").GetDouble(), g.GetProperty("loss").GetDouble(), 2e-2, $"step {i + 1} loss");
                AssertRelative(c.GetProperty("grad_norm").GetDouble(), g.GetProperty("grad_norm").GetDouble(), 1e-1,
                    $"step {i + 1} gradient norm");
            }

            Assert.Equal("done", cuda[^1].RootElement.GetProperty("event").GetString());
            var cpuOut = CliRun.Run("info", "--checkpoint", tmp.File("out-cpu"));
            var cudaOut = CliRun.Run("info", "--checkpoint", tmp.File("out-cuda"));
            Assert.True(cudaOut.ExitCode == ExitCodes.Ok, cudaOut.ToString());
            Assert.Equal(CheckpointSummary(cpuOut.Out), CheckpointSummary(cudaOut.Out));

        }
        finally
        {
            foreach (var d in cpu.Concat(cuda)) d.Dispose();
        }
    }

    // The lines of `med2e3 info --checkpoint` after its path: configs, tensors, dtypes, parameters (not the timing).
    private static string CheckpointSummary(string info) =>
        string.Join('\n', info.Split('\n')
            .SkipWhile(l => !l.StartsWith("checkpoint", StringComparison.Ordinal)).Skip(1)
            .Where(l => !l.StartsWith("opened and checked", StringComparison.Ordinal)));

    private static float[] RandomVolume(int seed)
    {
        var rng = new Random(seed);
        var v = new float[8 * 32 * 32];
        for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
        return v;
    }

    private static JsonDocument Json(CliRun.Result r)
    {
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        return JsonDocument.Parse(r.Out);
    }

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetInt32())];

    private static double[] Doubles(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetDouble())];

    private static void AssertRelative(double want, double got, double tolerance, string what)
    {
        double rel = Math.Abs(got - want) / Math.Max(Math.Abs(want), 1e-30);
        Assert.True(rel <= tolerance, $"{what}: {got} on the device, {want} on the CPU (relative error {rel:e2} > {tolerance})");
    }

    private void AssertRelativeL2(double[] want, double[] got, double tolerance, string what)
    {
        Assert.Equal(want.Length, got.Length);
        double d2 = 0, r2 = 0;
        for (int i = 0; i < want.Length; i++)
        {
            d2 += (got[i] - want[i]) * (got[i] - want[i]);
            r2 += want[i] * want[i];
        }

        double rel = Math.Sqrt(d2 / r2);
        log.WriteLine($"{what}: relative L2 error {rel:e2}");
        Assert.True(rel <= tolerance, $"{what}: relative L2 error {rel:e2} > {tolerance}");
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "med2e3-cuda-test-" + Guid.NewGuid().ToString("N"));

        public TempFolder() => Directory.CreateDirectory(Path);

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
