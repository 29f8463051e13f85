using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Models.Training;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Cuda.Cli;

namespace Med2E3.Native.Tests.Cuda.Model;

/// <summary>
/// Three fine-tuning steps of the tiny fixture (two samples, gradient accumulation 2, AdamW at 1e-3) on the CUDA
/// backend against the CPU backend: in f32 the losses, gradient norms and the update of every trained weight agree to
/// f32 round-off, with and without the seeded dropout and augmentation; in bf16 the device's distance from the f32 CPU run is at most twice the CPU's own bf16 distance
/// (STYLE.md §9).
/// </summary>
public class TrainingOnTheDeviceTests(ITestOutputHelper log)
{
    private sealed record Run(double[] Losses, double[] GradNorms, double[] Update);

    private static float[] RandomVolume(int seed)
    {
        var rng = new Random(seed);
        var v = new float[8 * 32 * 32];
        for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
        return v;
    }

    private static Run Train(string device, DType dtype, bool dropoutAndAugment = false)
    {
        var options = new Med2E3LoadOptions
        {
            ComputeDType = dtype,
            BertVocabPath = Path.Combine(CliRun.Fixture, "text_tokenizer", "vocab.txt"),
        };
        using var model = Med2E3Model.Load(Path.Combine(CliRun.Fixture, "checkpoint"), device, options);
        float[] a = RandomVolume(1), b = RandomVolume(2);
        FineTuneSample[] samples =
        [
            FineTuneSample.FromQuestion(model, "a", () => (float[])a.Clone(), "What abnormality is seen in the liver?",
                "A hypodense lesion."),
            FineTuneSample.FromQuestion(model, "b", () => (float[])b.Clone(), "Which organ is enlarged?", "The spleen."),
        ];
        var tuning = new FineTuneOptions
        {
            LearningRate = 1e-3, WarmupRatio = 0, Augment = dropoutAndAugment, Dropout = dropoutAndAugment,
            Shuffle = false, Epochs = 3, GradAccum = 2, Seed = 5,
        };
        using var tuner = new FineTuner(model, tuning, samples.Length);
        double[] before = [.. tuner.TrainableParameters.SelectMany(p => p.ToDoubleArray())];
        var steps = tuner.Train(samples, cancel: TestContext.Current.CancellationToken);
        double[] after = [.. tuner.TrainableParameters.SelectMany(p => p.ToDoubleArray())];
        return new Run([.. steps.Select(s => s.Loss)], [.. steps.Select(s => s.GradNorm)],
            [.. after.Zip(before, (x, y) => x - y)]);
    }

    private static double RelativeL2(double[] got, double[] want)
    {
        Assert.Equal(want.Length, got.Length);
        double d2 = 0, r2 = 0;
        for (int i = 0; i < want.Length; i++)
        {
            d2 += (got[i] - want[i]) * (got[i] - want[i]);
            r2 += want[i] * want[i];
        }

        return Math.Sqrt(d2 / r2);
    }

    // With dropout and augmentation on, the masks and the augmentations are drawn on the host from the seed, so both
    // devices train on the same thing.
    [CudaTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void ThreeStepsInF32MatchTheCpu(bool dropoutAndAugment)
    {
        Run cpu = Train("cpu", DType.F32, dropoutAndAugment), cuda = Train("cuda", DType.F32, dropoutAndAugment);
        Assert.Equal(3, cuda.Losses.Length);
        double loss = RelativeL2(cuda.Losses, cpu.Losses), norm = RelativeL2(cuda.GradNorms, cpu.GradNorms);
        double update = RelativeL2(cuda.Update, cpu.Update);
        log.WriteLine($"f32, relative L2 device vs CPU: losses {loss:e2}, gradient norms {norm:e2}, update {update:e2}");
        Assert.True(cpu.Update.Count(d => d != 0) > cpu.Update.Length / 2, "training moved fewer than half the weights");
        Assert.True(loss <= 1e-5, $"losses differ by {loss:e2}");
        Assert.True(norm <= 1e-4, $"gradient norms differ by {norm:e2}");
        Assert.True(update <= 1e-3, $"the weight updates differ by {update:e2}");
    }

    [CudaFact]
    public void ThreeStepsInBf16StayWithinTwiceTheCpuBf16Error()
    {
        Run reference = Train("cpu", DType.F32), cpu = Train("cpu", DType.BF16), cuda = Train("cuda", DType.BF16);
        foreach (var (what, pick) in new (string, Func<Run, double[]>)[]
                 { ("losses", r => r.Losses), ("gradient norms", r => r.GradNorms), ("update", r => r.Update) })
        {
            double cpuError = RelativeL2(pick(cpu), pick(reference)), cudaError = RelativeL2(pick(cuda), pick(reference));
            log.WriteLine($"bf16 {what}: CPU {cpuError:e2}, device {cudaError:e2} (relative L2 vs the f32 CPU run)");
            Assert.True(cudaError <= 2 * cpuError, $"bf16 {what}: the device is {cudaError:e2} from the f32 run, "
                + $"more than twice the CPU's {cpuError:e2}");
        }
    }
}
