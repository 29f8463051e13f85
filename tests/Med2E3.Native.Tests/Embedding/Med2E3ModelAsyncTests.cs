using Med2E3.Native.Models.Golden;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Model;
using Microsoft.Extensions.Logging;

namespace Med2E3.Native.Tests.Embedding;

/// <summary>
/// The embedding API on the tiny fixture model: LoadAsync with progress and cancellation, PreprocessVolume from a
/// file, a stream and an array, GenerateAsync against Generate, cancellation between tokens without leaked tensors,
/// and what the model logs.
/// </summary>
public class Med2E3ModelAsyncTests
{
    private static readonly GoldenFixture Fx = GoldenFixture.Open(ModelFixture.Fixture);

    private static int[] GoldenIds => [.. Fx.Longs("output.generated_ids").Select(x => (int)x)];

    private static string PhantomNpy => Path.Combine(ModelFixture.Fixture, "..", "volumes", "phantom-1x8x32x32.npy");

    private static Med2E3LoadOptions Options(ILogger? logger = null) =>
        new() { BertVocabPath = ModelFixture.BertVocab, Logger = logger };

    private static Tensor GoldenVolume()
    {
        var info = Fx.Tensor("input.volume");
        return Tensor.FromFloats(info.ToFloat32(), info.GetShape(), DType.F32);             // (1, 1, D, H, W)
    }

    /// <summary>Reports synchronously, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Recorder<T> : IProgress<T>
    {
        public List<T> Items { get; } = [];

        public Action<T>? Then { get; init; }

        public void Report(T value)
        {
            lock (Items) Items.Add(value);
            Then?.Invoke(value);
        }
    }

    [Fact]
    public async Task LoadAsyncReportsEveryStepInOrderAndGivesAWorkingModel()
    {
        var progress = new Recorder<LoadProgress>();
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), progress, TestContext.Current.CancellationToken);
        Assert.Equal([LoadProgress.Checkpoint, "vision3d_model", "vision2d_model", LoadProgress.Connectors, "llm", LoadProgress.Tokenizers],
            progress.Items.Select(p => p.Step));
        Assert.Equal(Enumerable.Range(1, LoadProgress.StepCount), progress.Items.Select(p => p.Completed));
        Assert.All(progress.Items, p => Assert.Equal(LoadProgress.StepCount, p.Total));
        Assert.Equal(1.0, progress.Items[^1].Fraction);
        Assert.True(progress.Items.Zip(progress.Items.Skip(1)).All(p => p.First.Elapsed <= p.Second.Elapsed));
        Assert.Equal(Device.Cpu, model.Device);

        using var volume = GoldenVolume();
        var result = model.Generate(volume, Fx.Question, new GenerationOptions { MaxNewTokens = Fx.MaxNewTokens });
        Assert.Equal(GoldenIds, result.TokenIds);
    }

    [Fact]
    public async Task LoadAsyncCancelledDuringTheLoadFreesWhatItLoaded()
    {
        using var leaks = TensorStats.Track();
        using var cts = new CancellationTokenSource();
        var progress = new Recorder<LoadProgress> { Then = p => { if (p.Step == "vision2d_model") cts.Cancel(); } };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), progress, cts.Token));
        Assert.Equal("vision2d_model", progress.Items[^1].Step);                             // stopped at the next step
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public async Task LoadAsyncCancelledBeforeItStartsThrows()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), null, cts.Token));
    }

    [Fact]
    public async Task GenerateAsyncStreamsTheSameTokensAsGenerateAndEndsWithTheResult()
    {
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), cancellationToken: TestContext.Current.CancellationToken);
        using var volume = GoldenVolume();
        var options = model.GenerationOptions with { MaxNewTokens = Fx.MaxNewTokens };
        var expected = model.Generate(volume, Fx.Question, options);

        var tokens = new List<GeneratedToken>();
        await foreach (var token in model.GenerateAsync(volume, Fx.Question, options, TestContext.Current.CancellationToken))
            tokens.Add(token);

        Assert.Equal(expected.TokenIds, tokens.Select(t => t.Id));
        Assert.Equal(Enumerable.Range(0, tokens.Count), tokens.Select(t => t.Index));
        Assert.Equal(expected.Text, string.Concat(tokens.Select(t => t.TextDelta)));
        Assert.Equal([.. Enumerable.Repeat(false, tokens.Count - 1), true], tokens.Select(t => t.IsLast));
        Assert.All(tokens.SkipLast(1), t => Assert.Null(t.Result));
        var result = tokens[^1].Result!;
        Assert.Equal(expected.TokenIds, result.TokenIds);
        Assert.Equal(expected.SliceScores, result.SliceScores);
        Assert.Equal(expected.StopReason, result.StopReason);
        Assert.Equal(Fx.Floats("output.slice_scores"), result.SliceScores, (a, b) => Math.Abs(a - b) < 1e-4f);
        Assert.True(tokens.Zip(tokens.Skip(1)).All(p => p.First.Elapsed <= p.Second.Elapsed));
        Assert.Equal(result.Timings.DecodeSteps, tokens.Count - 1);
    }

    [Fact]
    public async Task GenerateAsyncOnARenderedPromptMatchesTheGoldenIds()
    {
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), cancellationToken: TestContext.Current.CancellationToken);
        using var volume = GoldenVolume();
        var ids = new List<int>();
        GenerationResult? result = null;
        await foreach (var token in model.GenerateAsync(volume, Fx.GenerationPrompt, Fx.Question,
                           new GenerationOptions { MaxNewTokens = Fx.MaxNewTokens }, TestContext.Current.CancellationToken))
        {
            ids.Add(token.Id);
            result = token.Result;
        }
        Assert.Equal(GoldenIds, ids);
        Assert.Equal(GoldenIds, result!.TokenIds);
    }

    [Fact]
    public async Task CancellingGenerateAsyncStopsAtTheNextTokenAndFreesItsTensors()
    {
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), cancellationToken: TestContext.Current.CancellationToken);
        using var leaks = TensorStats.Track();
        using var cts = new CancellationTokenSource();
        using var cancelled = new ManualResetEventSlim();
        int decoded = 0;
        // The decoder's own callback holds token 1 until the reader has cancelled, so the cancel lands mid-generation.
        var options = new GenerationOptions
        {
            MaxNewTokens = 40,
            OnToken = t =>
            {
                Interlocked.Increment(ref decoded);
                if (t.Index == 1) cancelled.Wait(TestContext.Current.CancellationToken);
            },
        };
        var received = new List<GeneratedToken>();
        using (var volume = GoldenVolume())
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (var token in model.GenerateAsync(volume, Fx.Question, options, cts.Token))
                {
                    received.Add(token);
                    cts.Cancel();
                    cancelled.Set();
                }
            });
        }
        Assert.Equal(2, decoded);                                                            // no decode step after the cancel
        // Nothing is handed out after the cancel, even tokens already decoded (the tiny model decodes faster than this
        // loop reads), and the generation itself stopped: every tensor it made is freed.
        Assert.False(Assert.Single(received).IsLast);
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public async Task LeavingTheLoopEarlyStopsGenerationAndTheModelStaysUsable()
    {
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(), cancellationToken: TestContext.Current.CancellationToken);
        using var volume = GoldenVolume();
        using (var leaks = TensorStats.Track())
        {
            await foreach (var token in model.GenerateAsync(volume, Fx.Question, new GenerationOptions { MaxNewTokens = 40 },
                               TestContext.Current.CancellationToken))
            {
                if (token.Index == 2) break;
            }
            Assert.Equal(0, leaks.Live);
        }
        var again = model.Generate(volume, Fx.Question, new GenerationOptions { MaxNewTokens = Fx.MaxNewTokens });
        Assert.Equal(GoldenIds, again.TokenIds);
    }

    [Fact]
    public void GenerateWithACancelledTokenThrowsBeforeAnyWork()
    {
        using var model = Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", Options());
        using var volume = GoldenVolume();
        using var leaks = TensorStats.Track();
        int tokens = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => model.Generate(volume, Fx.Question,
            new GenerationOptions { OnToken = _ => tokens++, CancellationToken = new CancellationToken(canceled: true) }));
        Assert.Equal(0, tokens);
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void PreprocessVolumeUsesTheCheckpointsSizeFromAFileAStreamOrAnArray()
    {
        using var model = Med2E3Model.Load(ModelFixture.Checkpoint, "cpu", Options());
        // The demo checkpoint takes 8 × 32 × 32, not the released model's 32 × 256 × 256.
        Assert.Equal((8, 32, 32), (model.PreprocessOptions.TargetDepth, model.PreprocessOptions.TargetHeight, model.PreprocessOptions.TargetWidth));
        Assert.Equal(model.MaxLength, model.GenerationOptions.MaxTotalLength);

        using var fromFile = model.PreprocessVolume(VolumeSource.FromFile(PhantomNpy));
        using var stream = File.OpenRead(PhantomNpy);
        using var fromStream = model.PreprocessVolume(VolumeSource.FromStream(stream, "phantom.npy"));
        var read = VolumeReader.Read(PhantomNpy);
        using var fromArray = model.PreprocessVolume(VolumeSource.FromArray(read.Data, read.Depth, read.Height, read.Width));
        Assert.Equal([1, 1, 8, 32, 32], fromFile.Shape);
        Assert.Equal(fromFile.ToFloatArray(), fromStream.ToFloatArray());
        Assert.Equal(fromFile.ToFloatArray(), fromArray.ToFloatArray());

        // A larger volume is cropped to its foreground and resized down to the checkpoint's size.
        var big = new Volume(Phantom.M3DStyle(16, 48, 40), 16, 48, 40, "phantom", VolumeFileFormat.InMemory);
        using var fromVolume = model.PreprocessVolume(VolumeSource.FromVolume(big));
        Assert.Equal([1, 1, 8, 32, 32], fromVolume.Shape);
    }

    [Fact]
    public void AnArrayWithNaNIsRefusedUnlessAllowed()
    {
        float[] voxels = [.. Enumerable.Range(0, 2 * 3 * 4).Select(i => i / 24f)];
        voxels[5] = float.NaN;
        var source = VolumeSource.FromArray(voxels, 2, 3, 4, "scan");
        var e = Assert.Throws<VolumeFormatException>(() => source.Read());
        Assert.Equal("scan: voxel 5 is NaN; read with NonFinitePolicy.ReplaceWithZero to use such voxels as 0", e.Message);
        var v = source.Read(new VolumeReadOptions { NonFinite = NonFinitePolicy.ReplaceWithZero });
        Assert.Equal(0f, v.Data[5]);
        Assert.True(float.IsNaN(voxels[5]));                                                 // the caller's array is untouched
        Assert.Throws<ArgumentException>(() => VolumeSource.FromArray(voxels, 2, 3, 5));
    }

    [Fact]
    public async Task TheModelLogsItsLoadWarningsAndGenerations()
    {
        var log = new ListLogger();
        using var model = await Med2E3Model.LoadAsync(ModelFixture.Checkpoint, Options(log), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Information && e.Message.StartsWith($"Loaded {Path.GetFullPath(ModelFixture.Checkpoint)} on cpu (F32): ", StringComparison.Ordinal));

        // A volume with no foreground is a warning of preprocessing, which reaches the logger with the source's name.
        using (model.PreprocessVolume(VolumeSource.FromArray(new float[4 * 8 * 8], 4, 8, 8, "empty"))) { }
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.StartsWith("empty: ", StringComparison.Ordinal));

        using var volume = GoldenVolume();
        model.Generate(volume, Fx.Question, new GenerationOptions { MaxNewTokens = 3 });
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Debug && e.Message.StartsWith("Generated 3 tokens (length): vision ", StringComparison.Ordinal));
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
