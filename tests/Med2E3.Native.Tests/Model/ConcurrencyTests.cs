using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// The threading contract of README.md ("Threading"): one loaded model, its tokenizers, a state dict and the readers
/// may be used from many threads at once on the CPU, and give what they give on one thread.
/// </summary>
public class ConcurrencyTests(ITestOutputHelper log)
{
    const int Threads = 8;
    const int CallsPerThread = 12;

    static readonly string[] Questions =
    [
        "What abnormality is seen in the liver?", "Which organ is enlarged?", "Is there a fracture?",
        "Describe the findings of this CT scan.",
    ];

    /// <summary>Runs <paramref name="work"/>(thread, call) on <see cref="Threads"/> threads released together.</summary>
    static void OnManyThreads(Action<int, int> work)
    {
        using var start = new Barrier(Threads);
        var errors = new List<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                for (int i = 0; i < CallsPerThread; i++) work(t, i);
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.Count > 0) throw new AggregateException(errors);
    }

    [Fact]
    public void OneLoadedModelAnswersFromManyThreadsAsFromOne()
    {
        var fx = Models.Golden.GoldenFixture.Open(ModelFixture.Fixture);
        var info = fx.Tensor("input.volume");
        using var model = Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab });
        using var volume = Tensor.FromFloats(info.ToFloat32(), info.GetShape(), DType.F32);
        GenerationOptions Options(int call) => call % 2 == 0
            ? new GenerationOptions { MaxNewTokens = 6 }
            : new GenerationOptions { MaxNewTokens = 6, Temperature = 0.8, TopP = 0.9, Seed = 5 };
        var expected = new Dictionary<(int, bool), int[]>();
        for (int q = 0; q < Questions.Length; q++)
        {
            expected[(q, false)] = model.Generate(volume, Questions[q], Options(0)).TokenIds;
            expected[(q, true)] = model.Generate(volume, Questions[q], Options(1)).TokenIds;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int mismatches = 0;
        OnManyThreads((t, i) =>
        {
            int q = (t + i) % Questions.Length;
            int[] ids = model.Generate(volume, Questions[q], Options(i)).TokenIds;
            if (!ids.SequenceEqual(expected[(q, i % 2 == 1)])) Interlocked.Increment(ref mismatches);
            // The tokenizers are shared too.
            string text = model.Tokenizer.Decode(model.Tokenizer.Encode(Questions[q]));
            if (text != Questions[q]) Interlocked.Increment(ref mismatches);
            if (!model.TokenizeQuestion(Questions[q]).Ids.SequenceEqual(model.TokenizeQuestion(Questions[q]).Ids))
                Interlocked.Increment(ref mismatches);
        });
        log.WriteLine($"{Threads} threads × {CallsPerThread} generate calls in {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void AStateDictAndTheReadersAreSharedAcrossThreads()
    {
        StateDict weights = WeightFiles.Read(Path.Combine(ModelFixture.Checkpoint, "vision2d_model", "pytorch_model.bin"));
        var expected = weights.Tensors.ToDictionary(t => t.Name, t => t.ToFloat32());
        foreach (WeightTensor t in weights.Tensors) t.ReleaseCache();
        string volumePath = Path.Combine(Cli.CliRunner.RepoRoot, "tests", "data", "volumes", "phantom-ct-8x32x32.nii.gz");
        float[] volume = VolumeReader.Read(volumePath).Data;
        int mismatches = 0;
        OnManyThreads((t, i) =>
        {
            // Tensor bytes are read on first use by whichever thread comes first; every thread sees the same values.
            foreach (WeightTensor w in weights.Tensors)
            {
                float[] got = i % 2 == 0 ? w.ToFloat32() : MemoryMarshalFloats(w);
                if (!got.AsSpan().SequenceEqual(expected[w.Name])) Interlocked.Increment(ref mismatches);
            }
            if (!VolumeReader.Read(volumePath).Data.AsSpan().SequenceEqual(volume)) Interlocked.Increment(ref mismatches);
            if (t == 0 && i == CallsPerThread / 2)
                foreach (WeightTensor w in weights.Tensors) w.ReleaseCache();
        });
        Assert.Equal(0, mismatches);
    }

    static float[] MemoryMarshalFloats(WeightTensor w)
    {
        var values = new float[w.ElementCount];
        w.ToFloat32(values);
        return values;
    }
}
