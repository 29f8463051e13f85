using System.Diagnostics;
using System.Text.Json;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Training;

/// <summary>What one optimiser step did.</summary>
/// <param name="Step">1-based index of the step.</param>
/// <param name="TotalSteps">Steps of the whole run (the schedule's length).</param>
/// <param name="Epoch">1-based epoch the step belongs to.</param>
/// <param name="Loss">Mean loss of the step's samples (before the 1/n scaling).</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="GradNorm">Global gradient norm before clipping.</param>
/// <param name="Samples">Samples in the step.</param>
/// <param name="Seconds">Wall time of the step.</param>
/// <param name="Augmentations">What the augmentation did to each sample (empty when off).</param>
public sealed record FineTuneStep(int Step, int TotalSteps, int Epoch, double Loss, double LearningRate, double GradNorm,
    int Samples, double Seconds, IReadOnlyList<string> Augmentations);

/// <summary>
/// The stage-2 fine-tuning recipe (spec §9) on a loaded <see cref="Med2E3Model"/>: the llm, vision2d_model and both
/// connectors train, the 3D ViT and BERT stay frozen. One step accumulates the gradients of up to
/// <see cref="FineTuneOptions.GradAccum"/> samples (batch-1 forwards, each loss scaled by 1/n so the update is the
/// gradient of the mean loss), clips the global grad norm, takes an AdamW step at the scheduled learning rate (linear
/// warmup, then cosine decay to 0, as transformers' <c>get_cosine_schedule_with_warmup</c>) and clears the gradients.
/// Augmentations, dropout masks and the data order come from <see cref="FineTuneOptions.Seed"/>, so a run is
/// reproducible. <see cref="Save"/> writes a checkpoint folder in the released layout.
/// <code>
/// using var model = Med2E3Model.Load("checkpoint/", "cpu");
/// using var tuner = new FineTuner(model, new FineTuneOptions { Epochs = 1 }, samples.Count);
/// tuner.Train(samples, step => Console.WriteLine($"{step.Step} {step.Loss}"));
/// tuner.Save("finetuned/");
/// </code>
/// A tuner and its model are used by one thread at a time (the gradients and the optimiser state are shared). A
/// <see cref="Train"/> cancelled through its token stops at the next step boundary; <see cref="Save"/> is atomic.
/// </summary>
public sealed class FineTuner : IDisposable
{
    private readonly AdamW _optimizer;
    private readonly IReadOnlyList<Tensor> _trainable;

    /// <summary>Prepares <paramref name="model"/> for fine-tuning over <paramref name="sampleCount"/> samples.</summary>
    public FineTuner(Med2E3Model model, FineTuneOptions options, int sampleCount)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } problem) throw new ArgumentException("FineTuner.cs: " + problem, nameof(options));
        if (sampleCount < 1) throw new ArgumentException("FineTuner.cs: no training samples", nameof(sampleCount));
        Model = model;
        Options = options;
        SampleCount = sampleCount;
        StepsPerEpoch = (sampleCount + options.GradAccum - 1) / options.GradAccum;
        TotalSteps = TotalStepsFor(sampleCount, options);
        WarmupSteps = WarmupStepsFor(TotalSteps, options.WarmupRatio);
        model.EnableFineTuning(options.GradientCheckpointing);
        _trainable = model.FineTuneParameters;
        _optimizer = new AdamW(_trainable, options.LearningRate, options.Beta1, options.Beta2, options.Eps,
            options.WeightDecay);
    }

    public Med2E3Model Model { get; }

    public FineTuneOptions Options { get; }

    /// <summary>Samples per epoch.</summary>
    public int SampleCount { get; }

    /// <summary>Optimiser steps per epoch: ceil(samples / grad-accum) (a short last group is a step of its own).</summary>
    public int StepsPerEpoch { get; }

    /// <summary>Steps of the run: max-steps when given, else epochs · steps per epoch.</summary>
    public int TotalSteps { get; }

    /// <summary>ceil(warmup ratio · total steps).</summary>
    public int WarmupSteps { get; }

    /// <summary>Optimiser steps taken so far.</summary>
    public int StepsDone { get; private set; }

    /// <summary>The parameters that train (as <see cref="Med2E3Model.FineTuneParameters"/>).</summary>
    public IReadOnlyList<Tensor> TrainableParameters => _trainable;

    /// <summary>Steps of a run over <paramref name="sampleCount"/> samples.</summary>
    public static int TotalStepsFor(int sampleCount, FineTuneOptions options)
    {
        int perEpoch = (sampleCount + options.GradAccum - 1) / options.GradAccum;
        return options.MaxSteps ?? checked(perEpoch * options.Epochs);
    }

    /// <summary>ceil(<paramref name="warmupRatio"/> · <paramref name="totalSteps"/>), as transformers' get_warmup_steps.</summary>
    public static int WarmupStepsFor(int totalSteps, double warmupRatio) => (int)Math.Ceiling(totalSteps * warmupRatio);

    /// <summary>
    /// The learning rate of the step after <paramref name="completedSteps"/> steps (0 for the first step):
    /// lr · s / warmup during warmup, then lr · 0.5 · (1 + cos(π · progress)) with
    /// progress = (s − warmup) / max(1, total − warmup), never below 0.
    /// </summary>
    public static double LearningRateAt(int completedSteps, int totalSteps, int warmupSteps, double peak)
    {
        if (completedSteps < warmupSteps)
        {
            return peak * completedSteps / Math.Max(1, warmupSteps);
        }
        double progress = (double)(completedSteps - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return peak * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 2.0 * 0.5 * progress)));
    }

    /// <summary>The learning rate the next step will use.</summary>
    public double NextLearningRate => LearningRateAt(StepsDone, TotalSteps, WarmupSteps, Options.LearningRate);

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> (0-based) visits the samples: a seeded shuffle, or the file
    /// order when <see cref="FineTuneOptions.Shuffle"/> is off.
    /// </summary>
    public int[] EpochOrder(int epoch)
    {
        int[] order = Enumerable.Range(0, SampleCount).ToArray();
        if (!Options.Shuffle) return order;
        var rng = new SeededRandom(Mix(Options.Seed, epoch, 3));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)rng.NextLong(0, i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>
    /// Runs the whole schedule over <paramref name="samples"/>: epoch after epoch in <see cref="EpochOrder"/>, groups of
    /// grad-accum samples per step, until <see cref="TotalSteps"/>. <paramref name="onStep"/> sees every step.
    /// </summary>
    public IReadOnlyList<FineTuneStep> Train(IReadOnlyList<FineTuneSample> samples, Action<FineTuneStep>? onStep = null,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count != SampleCount)
        {
            throw new ArgumentException($"FineTuner.cs: prepared for {SampleCount} samples, given {samples.Count}");
        }
        var steps = new List<FineTuneStep>();
        for (int epoch = 0; StepsDone < TotalSteps; epoch++)
        {
            int[] order = EpochOrder(epoch);
            for (int start = 0; start < order.Length && StepsDone < TotalSteps; start += Options.GradAccum)
            {
                cancel.ThrowIfCancellationRequested();
                var group = order.Skip(start).Take(Options.GradAccum).Select(i => samples[i]).ToList();
                var step = Step(group, epoch + 1);
                steps.Add(step);
                onStep?.Invoke(step);
            }
        }
        return steps;
    }

    /// <summary>
    /// One optimiser step on <paramref name="group"/>: for each sample, augment (if on), forward with the training
    /// dropouts (if on), scale the loss by 1/n and backward; then clip, AdamW at the scheduled rate, zero the grads.
    /// </summary>
    public FineTuneStep Step(IReadOnlyList<FineTuneSample> group, int epoch = 1)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Count == 0) throw new ArgumentException("FineTuner.cs: a step needs at least one sample", nameof(group));
        var clock = Stopwatch.StartNew();
        double lr = NextLearningRate;
        int[] img = Model.Checkpoint.Vision3DConfig.ImgSize;
        double lossSum = 0;
        var augmentations = new List<string>();
        try
        {
            AccumulateGroup();
        }
        catch
        {
            _optimizer.ZeroGrad();                                                 // a failed step leaves no gradients behind
            throw;
        }
        double norm = F.ClipGradNorm(_trainable, Options.MaxGradNorm);
        _optimizer.Lr = lr;
        _optimizer.Step();
        _optimizer.ZeroGrad();
        StepsDone++;
        return new FineTuneStep(StepsDone, TotalSteps, epoch, lossSum / group.Count, lr, norm, group.Count,
            clock.Elapsed.TotalSeconds, augmentations);

        void AccumulateGroup()
        {
            for (int i = 0; i < group.Count; i++)
            {
                var sample = group[i];
                long index = (long)StepsDone * Options.GradAccum + i;               // position in the run, for the seeds
                float[] data = sample.LoadVolume();
                int d = img[0], h = img[1], w = img[2];
                if (data.Length != (long)d * h * w)
                {
                    throw new ArgumentException($"FineTuner.cs: {sample.Name}: the volume has {data.Length} values, "
                        + $"the model takes {d} x {h} x {w}");
                }
                if (Options.Augment)
                {
                    var aug = Augment.Apply(data, d, h, w, Mix(Options.Seed, index, 1), AugmentOptions.Training);
                    data = aug.Data;
                    (d, h, w) = (aug.Depth, aug.Height, aug.Width);
                    augmentations.Add(aug.Applied.ToString());
                }
                TrainingOptions? training = Options.Dropout ? TrainingOptions.Train(Mix(Options.Seed, index, 2)) : null;
                using var scope = TensorScope.Begin();
                var volume = Tensor.FromFloats(data, [1, 1, d, h, w], DType.F32);      // (1, 1, D, H, W) on the host
                var loss = Model.Loss(volume, sample.QuestionIds, sample.QuestionMask, sample.InputIds, sample.Labels,
                    training);                                                          // ()
                double value = loss.ToFloatArray()[0];
                if (!double.IsFinite(value))
                {
                    throw new InvalidOperationException($"FineTuner.cs: {sample.Name}: the loss is {value} "
                        + (sample.TrainedTokens == 0 ? "(the sample has no trained tokens)" : "(training diverged)"));
                }
                lossSum += value;
                var scaled = F.Scale(loss, 1.0 / group.Count);                          // ()
                scaled.Backward();
            }
        }
    }

    /// <summary>A seed for one use (1 augment, 2 dropout, 3 order) of one sample position, independent of the others.</summary>
    private static long Mix(long seed, long index, int use)
    {
        var a = new SeededRandom(unchecked(seed + use * 0x632BE59BD9B4E019L));
        var b = new SeededRandom(unchecked((long)a.NextUInt64() + index * unchecked((long)0x9E3779B97F4A7C15UL)));
        return unchecked((long)b.NextUInt64());
    }

    // ------------------------------------------------------------------------------------------------ saving

    /// <summary>The components whose weights train (and are rewritten by <see cref="Save"/>).</summary>
    public static IReadOnlyList<string> TrainedComponents { get; } =
    [
        Med2E3Checkpoint.LlmDir, Med2E3Checkpoint.Vision2DModelDir, Med2E3Checkpoint.Vision2DConnectorDir,
        Med2E3Checkpoint.Vision3DConnectorDir,
    ];

    /// <summary>Name of the file in a saved checkpoint's root that records the step it was saved at.</summary>
    public const string StateFile = "finetune_state.json";

    /// <summary>
    /// Writes the current weights as a checkpoint folder (see <see cref="SaveCheckpoint"/>), with
    /// <see cref="StateFile"/> recording the step, the run's length and its seed.
    /// </summary>
    /// <param name="directory">The checkpoint folder to write.</param>
    /// <param name="overwrite">Replace an existing folder (whole); otherwise an existing folder is refused.</param>
    /// <exception cref="OutputFileException">The folder exists (and <paramref name="overwrite"/> is false), overlaps the source, or cannot be written; it is left as it was.</exception>
    public void Save(string directory, bool overwrite = false)
    {
        string state = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["step"] = StepsDone,
            ["total_steps"] = TotalSteps,
            ["seed"] = Options.Seed,
            ["source_checkpoint"] = Model.Checkpoint.Root,
        }, new JsonSerializerOptions { WriteIndented = true });
        SaveCheckpoint(Model, directory, overwrite, root => File.WriteAllText(Path.Combine(root, StateFile), state + "\n"));
    }

    /// <summary>
    /// Writes <paramref name="model"/>'s weights as a checkpoint folder in the released layout (spec §8): the root
    /// files (configs, tokenizer) and <c>args/</c> are copied from the source checkpoint, the four trained components
    /// get their config files and a <c>pytorch_model.bin</c> with the current values under the source's key names,
    /// order and storage dtypes (tensors the model does not use are copied as they are), and the frozen
    /// <c>vision3d_model/</c> is copied unchanged. When the BERT vocab lies outside the source folder it is copied to
    /// <c>text_tokenizer/vocab.txt</c>, so the folder loads on its own. The folder is written whole into a temporary
    /// sibling and renamed into place (<see cref="AtomicDirectory"/>): a reader, or a process killed during the save,
    /// never sees a mix of old and new components.
    /// </summary>
    /// <param name="model">The model whose current weights are written.</param>
    /// <param name="directory">The checkpoint folder to write.</param>
    /// <param name="overwrite">Replace an existing folder (whole); otherwise an existing folder is refused.</param>
    /// <param name="extra">Writes more files into the new folder before it is published (e.g. <see cref="StateFile"/>).</param>
    /// <exception cref="OutputFileException">The folder exists (and <paramref name="overwrite"/> is false), overlaps the source, or cannot be written; it is left as it was.</exception>
    public static void SaveCheckpoint(Med2E3Model model, string directory, bool overwrite = false, Action<string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        string root = Path.GetFullPath(directory);
        string source = model.Checkpoint.Root;
        if (PathsEqual(root, source) || IsUnder(root, source) || IsUnder(source, root))
        {
            throw new OutputFileException(root, $"the output folder must not overlap the source checkpoint {source}");
        }
        AtomicDirectory.Write(root, overwrite, temp =>
        {
            WriteCheckpoint(model, temp);
            extra?.Invoke(temp);
        });
    }

    /// <summary>Writes the checkpoint files into the empty folder <paramref name="root"/>.</summary>
    private static void WriteCheckpoint(Med2E3Model model, string root)
    {
        var ckpt = model.Checkpoint;
        string source = ckpt.Root;
        var components = new HashSet<string>(ckpt.Components.Select(c => c.Name), StringComparer.Ordinal);

        foreach (string file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(root, Path.GetFileName(file)), overwrite: true);
        }
        foreach (string dir in Directory.EnumerateDirectories(source))
        {
            string name = Path.GetFileName(dir);
            if (!components.Contains(name)) CopyTree(dir, Path.Combine(root, name));
        }
        CopyTree(ckpt.Vision3DModel.Directory, Path.Combine(root, Med2E3Checkpoint.Vision3DModelDir));

        foreach (var component in new[] { ckpt.Llm, ckpt.Vision2DModel, ckpt.Vision2DConnector, ckpt.Vision3DConnector })
        {
            string target = Path.Combine(root, component.Name);
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            Directory.CreateDirectory(target);
            foreach (string file in Directory.EnumerateFiles(component.Directory))
            {
                if (IsWeightFile(file)) continue;
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
            }
            TorchCheckpointWriter.Write(Path.Combine(target, "pytorch_model.bin"), TrainedWeights(model, component));
        }

        if (ckpt.BertVocabPath is { } vocab && !IsUnder(vocab, source)
            && !Med2E3Checkpoint.BertVocabSearch(root).Take(3).Any(File.Exists))
        {
            string dest = Path.Combine(root, "text_tokenizer", "vocab.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(vocab, dest, overwrite: true);
        }
    }

    /// <summary>
    /// The state dict of one component with the model's current values: every tensor of the source file in its order,
    /// under its stored name (key prefix included) and storage dtype; parameters the source lacks (a created
    /// text_mlp) are appended in the component's floating dtype.
    /// </summary>
    private static List<WeightTensor> TrainedWeights(Med2E3Model model, CheckpointComponent component)
    {
        StateDict stored = WeightFiles.Read(component.WeightsPath);
        string prefix = component.KeyPrefix;
        var written = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<WeightTensor>();
        StorageDType floatType = stored.Tensors.Select(t => t.DType).FirstOrDefault(t => t.IsFloatingPoint(), StorageDType.F32);
        foreach (WeightTensor t in stored.Tensors)
        {
            string? key = t.Name.StartsWith(prefix, StringComparison.Ordinal) ? t.Name[prefix.Length..] : null;
            string name = component.Name + "." + key;
            if (key is null || !model.Parameters.Contains(name))
            {
                result.Add(t);
                continue;
            }
            result.Add(Snapshot(model.Parameters[name], t.Name, t.GetShape(), t.DType));
            written.Add(name);
        }
        foreach (var p in model.Parameters.WithPrefix(component.Name + "."))
        {
            if (written.Contains(p.Name!)) continue;
            result.Add(Snapshot(p, prefix + p.Name![(component.Name.Length + 1)..], p.Shape.ToArray(), floatType));
        }
        return result;
    }

    private static WeightTensor Snapshot(Tensor parameter, string key, int[] shape, StorageDType dtype)
    {
        if (parameter.Numel != shape.Aggregate(1L, (a, b) => a * b))
        {
            throw new InvalidOperationException($"FineTuner.cs: parameter {parameter.Name} has {parameter.Numel} values, "
                + $"the stored tensor {key} [{string.Join(", ", shape)}]");
        }
        float[] values = parameter.ToFloatArray();
        return WeightTensor.FromFloat32(key, shape, values, dtype.IsFloatingPoint() ? dtype : StorageDType.F32);
    }

    private static bool IsWeightFile(string path)
    {
        string name = Path.GetFileName(path);
        return WeightFiles.SearchOrder.Contains(name)
               || name.EndsWith(".safetensors", StringComparison.Ordinal)
               || name.EndsWith(".bin", StringComparison.Ordinal);
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }
        foreach (string dir in Directory.EnumerateDirectories(from))
        {
            CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }

    private static bool PathsEqual(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)),
            Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);

    private static bool IsUnder(string path, string folder) =>
        Path.GetFullPath(path).StartsWith(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar,
            StringComparison.Ordinal);

    /// <summary>Frees the optimiser state (the model stays loaded; its gradients are cleared).</summary>
    public void Dispose()
    {
        _optimizer.ZeroGrad();
        _optimizer.Dispose();
    }
}
