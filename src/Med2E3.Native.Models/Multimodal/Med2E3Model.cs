using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Decoder;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Models.Text;
using Med2E3.Native.Tokenizers;
using Med2E3.Native.Models.Vision2D;
using Med2E3.Native.Models.Vision3D;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// Med-2E3 (spec §0), the whole network: 3D ViT + BERT question encoder + SigLIP on every slice, the two
/// connectors with text-guided inter-slice scoring (TG-IS), and the Phi-3 decoder with the visual tokens spliced
/// in at &lt;image3d&gt;. The same code runs on the CPU and on CUDA; the device is chosen at <see cref="Load(string, string, Med2E3LoadOptions?)"/>.
/// <code>
/// using var model = Med2E3Model.Load("checkpoint/", "cpu");
/// var answer = model.Generate(volume, "What abnormality is seen in the liver?");   // volume (1, 1, D, Hi, W) in [0,1]
/// </code>
/// <see cref="LoadAsync"/>, <see cref="PreprocessVolume"/> and <see cref="GenerateAsync(Tensor, string, GenerationOptions?, CancellationToken)"/> (Med2E3Model.Async.cs) are
/// the same calls for an application: a file, stream or array in, tokens streamed out, cancellation between tokens.
/// <para><b>Threading.</b> On the CPU one loaded model may serve <see cref="Generate(Tensor, string, GenerationOptions?)"/>,
/// <c>GenerateAsync</c>, <see cref="EncodeVision"/>, <see cref="TokenizeQuestion"/> and <see cref="EmbedPrompt"/> from
/// many threads at once (the weights are only read; each call has its own KV cache and tensors). Training
/// (<see cref="EnableFineTuning"/>, <see cref="Loss(Tensor, string, string, TrainingOptions?)"/> with a backward pass,
/// <c>FineTuner</c>) accumulates into the shared gradients: one thread, with no other call running. On CUDA, one call
/// at a time (the calls share the model's device stream). The async methods run the same synchronous code on a
/// thread-pool thread and return to no particular context. Never dispose the model while a call runs (an async
/// enumeration counts until it is disposed). See the README's threading section.</para>
/// </summary>
public sealed partial class Med2E3Model : IDisposable
{
    /// <summary>Component names, as the checkpoint folders and the parameter-name prefixes.</summary>
    public const string LlmComponent = Med2E3Checkpoint.LlmDir;

    private Med2E3Model(Med2E3Checkpoint checkpoint, Device device, DType dtype, ParameterSet parameters,
        ViT3D vision3D, BertEncoder textEncoder, SigLip vision2D, Vision2DConnector vision2DConnector,
        Vision3DConnector vision3DConnector, Phi3 llm, Phi3Tokenizer tokenizer, BertWordPieceTokenizer questionTokenizer,
        ILogger logger)
    {
        Logger = logger;
        Checkpoint = checkpoint;
        Device = device;
        DType = dtype;
        Parameters = parameters;
        Vision3D = vision3D;
        TextEncoder = textEncoder;
        Vision2D = vision2D;
        Vision2DConnector = vision2DConnector;
        Vision3DConnector = vision3DConnector;
        Llm = llm;
        Tokenizer = tokenizer;
        QuestionTokenizer = questionTokenizer;
    }

    /// <summary>The opened checkpoint (configs, load report, tokenizer files).</summary>
    public Med2E3Checkpoint Checkpoint { get; }

    public Device Device { get; }

    /// <summary>Compute dtype of every weight and activation.</summary>
    public DType DType { get; }

    /// <summary>Every loaded weight, named "component.checkpoint_key".</summary>
    public ParameterSet Parameters { get; }

    /// <summary>M3D-CLIP vision encoder (<c>vision3d_model/vision_encoder.*</c>), frozen.</summary>
    public ViT3D Vision3D { get; }

    /// <summary>M3D-CLIP BERT (<c>vision3d_model/language_encoder.*</c>), frozen.</summary>
    public BertEncoder TextEncoder { get; }

    /// <summary>SigLIP vision tower (<c>vision2d_model</c>).</summary>
    public SigLip Vision2D { get; }

    /// <summary><c>vision2d_connector</c>.</summary>
    public Vision2DConnector Vision2DConnector { get; }

    /// <summary><c>vision3d_connector</c> with TG-IS.</summary>
    public Vision3DConnector Vision3DConnector { get; }

    /// <summary>Phi-3 (<c>llm</c>).</summary>
    public Phi3 Llm { get; }

    /// <summary>The Phi-3 tokenizer of the checkpoint root.</summary>
    public Phi3Tokenizer Tokenizer { get; }

    /// <summary>The BERT WordPiece tokenizer of the TG-IS question encoder.</summary>
    public BertWordPieceTokenizer QuestionTokenizer { get; }

    /// <summary>llm_max_length: the cap on prompt + visual + generated tokens, and the training truncation length.</summary>
    public int MaxLength => Checkpoint.Args.LlmMaxLength;

    /// <summary>Padded length of the BERT question encoding (M3D-CLIP max_text_len, 512 for the released model).</summary>
    public int QuestionLength => Checkpoint.Vision3DConfig.MaxTextLen ?? 512;

    /// <summary>
    /// Parameters the fine-tuning recipe trains (spec §9): llm, vision2d_model and both connectors. Their linear
    /// weights, prepared for CPU inference at load, become f32 parameter tensors of exactly their stored values on
    /// first use (see <see cref="ParameterSet.MakeTrainable"/>).
    /// </summary>
    public IReadOnlyList<Tensor> FineTuneParameters
    {
        get
        {
            MakeTrainable();
            return TrainedTensors;
        }
    }

    private void MakeTrainable()
    {
        foreach (string dir in (string[])[Med2E3Checkpoint.LlmDir, Med2E3Checkpoint.Vision2DModelDir,
                     Med2E3Checkpoint.Vision2DConnectorDir, Med2E3Checkpoint.Vision3DConnectorDir])
        {
            Parameters.MakeTrainable(dir + ".");
        }
    }

    private IReadOnlyList<Tensor> TrainedTensors =>
    [
        .. Parameters.WithPrefix(Med2E3Checkpoint.LlmDir + "."),
        .. Parameters.WithPrefix(Med2E3Checkpoint.Vision2DModelDir + "."),
        .. Parameters.WithPrefix(Med2E3Checkpoint.Vision2DConnectorDir + "."),
        .. Parameters.WithPrefix(Med2E3Checkpoint.Vision3DConnectorDir + "."),
    ];

    /// <summary>Opens and loads a checkpoint folder on <paramref name="device"/> ("cpu", "cuda" or "cuda:N").</summary>
    public static Med2E3Model Load(string checkpointDir, string device = "cpu", Med2E3LoadOptions? options = null) =>
        Load(checkpointDir, ComputeDevice.Parse(device), options);

    /// <summary>Where the model writes what it has to say (load summary, input warnings, generation statistics).</summary>
    public ILogger Logger { get; }

    /// <summary>Opens and loads a checkpoint folder on <paramref name="device"/>.</summary>
    /// <exception cref="CheckpointFormatException">A file is missing or malformed.</exception>
    /// <exception cref="CheckpointMismatchException">Keys or shapes disagree with the configs (strict mode).</exception>
    /// <exception cref="NotSupportedException">The checkpoint asks for a variant this implementation does not have.</exception>
    public static Med2E3Model Load(string checkpointDir, Device device, Med2E3LoadOptions? options = null) =>
        Load(checkpointDir, device, options, progress: null, CancellationToken.None);

    /// <summary>
    /// The load, reporting each step to <paramref name="progress"/> and stopping between steps when
    /// <paramref name="cancellationToken"/> is cancelled (what was loaded is freed); <see cref="LoadAsync"/> runs it.
    /// </summary>
    private static Med2E3Model Load(string checkpointDir, Device device, Med2E3LoadOptions? options,
        IProgress<LoadProgress>? progress, CancellationToken cancellationToken)
    {
        options ??= new Med2E3LoadOptions();
        var logger = options.Logger ?? NullLogger.Instance;
        var loadClock = Stopwatch.StartNew();
        int step = 0;
        void Done(string what)
        {
            progress?.Report(new LoadProgress(what, ++step, LoadProgress.StepCount, loadClock.Elapsed));
            cancellationToken.ThrowIfCancellationRequested();
        }
        cancellationToken.ThrowIfCancellationRequested();
        ComputeDevice.EnsureUsable(device);
        DType dtype = options.ComputeDType ?? (device.Kind == DeviceKind.Cpu ? DType.F32 : DType.BF16);
        var ckpt = Med2E3Checkpoint.Open(checkpointDir, new CheckpointOptions
        {
            BertVocabPath = options.BertVocabPath,
            MimicReferenceTextMlp = options.MimicReferenceTextMlp,
            ReferenceTextMlpSeed = options.ReferenceTextMlpSeed,
            BertAttentionHeads = options.BertAttentionHeads,
            Strict = options.Strict,
        });
        CheckVariant(ckpt);
        foreach (string note in ckpt.Report.Notes) Med2E3Log.CheckpointNote(logger, ckpt.Root, note);
        Done(LoadProgress.Checkpoint);
        string vocab = ckpt.BertVocabPath ?? throw new CheckpointFormatException(ckpt.Root,
            "no BERT vocab.txt for the question encoder; pass Med2E3LoadOptions.BertVocabPath");

        var parameters = new ParameterSet();
        try
        {
            WeightLoader Loader(CheckpointComponent c) =>
                new(c.Weights, c.Name, parameters, device, dtype, options.Precision);
            var v3 = Loader(ckpt.Vision3DModel);
            var vision3D = ViT3D.Load(v3.Sub("vision_encoder."), ckpt.Vision3DConfig);
            var text = BertEncoder.Load(v3.Sub("language_encoder."), ckpt.BertConfig);
            Done(Med2E3Checkpoint.Vision3DModelDir);
            var vision2D = SigLip.Load(Loader(ckpt.Vision2DModel), ckpt.Vision2DConfig);
            Done(Med2E3Checkpoint.Vision2DModelDir);
            int d = ckpt.LlmConfig.HiddenSize;
            var v2c = Vision2DConnector.Load(Loader(ckpt.Vision2DConnector), ckpt.Vision2DConfig.HiddenSize, d);
            var v3c = Vision3DConnector.Load(Loader(ckpt.Vision3DConnector), ckpt.Vision3DConfig.Grid,
                ckpt.Vision3DConfig.HiddenSize, d, ckpt.BertConfig.HiddenSize);
            Done(LoadProgress.Connectors);
            var llm = Phi3.Load(Loader(ckpt.Llm), ckpt.LlmConfig);
            Done(Med2E3Checkpoint.LlmDir);
            // args/config.json's tokenizer_use_fast asks for LlamaTokenizerFast; otherwise tokenizer_config.json decides.
            var tokenizer = Phi3Tokenizer.Load(ckpt.Tokenizer.Directory,
                ckpt.Args.TokenizerUseFast ? TokenizerBackend.Tokenizers : null);
            CheckTokenIds(tokenizer, ckpt);
            var questionTokenizer = BertWordPieceTokenizer.Load(vocab);
            Done(LoadProgress.Tokenizers);
            Med2E3Log.Loaded(logger, ckpt.Root, device.ToString(), dtype.ToString(), parameters.ElementCount, loadClock.Elapsed.TotalSeconds,
                parameters.ResidentBytes);
            return new Med2E3Model(ckpt, device, dtype, parameters, vision3D, text, vision2D, v2c, v3c, llm, tokenizer,
                questionTokenizer, logger);
        }
        catch
        {
            parameters.Dispose();
            throw;
        }
    }

    /// <summary>The variant settings the network implements; anything else is a config error naming the field.</summary>
    private static void CheckVariant(Med2E3Checkpoint c)
    {
        var a = c.Args;
        void Require(bool ok, string file, string field, string value, string allowed)
        {
            if (!ok)
            {
                throw new CheckpointConfigException(file, field,
                    $"{value} is not supported by this implementation; allowed: {allowed}");
            }
        }
        Require(a.Vision2DConnectorType == Med2E3Args.Mlp2xGelu, a.SourcePath, "vision2d_connector_type",
            InputText.Quote(a.Vision2DConnectorType), Med2E3Args.Mlp2xGelu);
        Require(a.Vision3DConnectorType == Med2E3Args.SpatialPoolingScore15, a.SourcePath, "vision3d_connector_type",
            InputText.Quote(a.Vision3DConnectorType), Med2E3Args.SpatialPoolingScore15);
        Require(a.Vision3DSelectLayer == -1, a.SourcePath, "vision3d_model_select_layer", $"{a.Vision3DSelectLayer}", "-1");
        Require(a.Vision2DSelectLayer == -1, a.SourcePath, "vision2d_model_select_layer", $"{a.Vision2DSelectLayer}", "-1");
        Require(a.Vision3DSelectFeature == "patch", a.SourcePath, "vision3d_model_select_feature",
            InputText.Quote(a.Vision3DSelectFeature), "patch");
        Require(a.Vision2DSelectFeature is "cls_patch" or "patch", a.SourcePath, "vision2d_model_select_feature",
            InputText.Quote(a.Vision2DSelectFeature), "cls_patch or patch");
        Require(c.Vision3DConfig.InChannels == 1, c.Vision3DConfig.SourcePath, "in_channels",
            $"{c.Vision3DConfig.InChannels}", "1");
    }

    /// <summary>
    /// Every id the Phi-3 tokenizer can produce must be a row of the LLM's embedding (and every special id of the LLM
    /// config is checked against its vocab_size when the config is read).
    /// </summary>
    private static void CheckTokenIds(Phi3Tokenizer tokenizer, Med2E3Checkpoint c)
    {
        int vocab = c.LlmConfig.VocabSize;
        if (tokenizer.VocabSize > vocab)
        {
            string file = c.Tokenizer.TokenizerJson ?? c.Tokenizer.TokenizerConfig ?? c.Tokenizer.AddedTokens
                ?? c.Tokenizer.TokenizerModel ?? c.Tokenizer.Directory;
            throw new TokenizerFileException(file,
                $"the tokenizer produces ids up to {tokenizer.VocabSize - 1}, outside the LLM vocabulary (vocab_size {vocab} " +
                $"in {c.LlmConfig.SourcePath})");
        }
    }

    // ------------------------------------------------------------------------------------------------ vision

    /// <summary>
    /// The question split for its two readers: the Phi-3 prompt question carries the &lt;image3d&gt; placeholder (added
    /// in front, "&lt;image3d&gt;\n" + question, when absent), the BERT question is the text without it (spec §3.1).
    /// </summary>
    public static (string PromptQuestion, string BertQuestion) SplitQuestion(string question)
    {
        ArgumentNullException.ThrowIfNull(question);
        if (question.Contains(Phi3Tokenizer.Image3DPlaceholder, StringComparison.Ordinal))
        {
            return (question, PyText.Strip(question.Replace(Phi3Tokenizer.Image3DPlaceholder, "")));
        }
        return (Phi3Tokenizer.Image3DPlaceholder + "\n" + PyText.Strip(question), PyText.Strip(question));
    }

    /// <summary>BERT ids and mask of the question, padded to <see cref="QuestionLength"/> (spec §3.1).</summary>
    public BertEncoding TokenizeQuestion(string bertQuestion) => QuestionTokenizer.Encode(bertQuestion, QuestionLength);

    /// <summary><see cref="TokenizeQuestion"/> as the long ids and mask <see cref="EncodeVision"/> takes.</summary>
    public (long[] Ids, long[] Mask) QuestionInputs(string bertQuestion)
    {
        var q = TokenizeQuestion(bertQuestion);
        return ([.. q.Ids.Select(i => (long)i)], [.. q.Mask.Select(i => (long)i)]);
    }

    /// <summary>
    /// Runs the vision side (spec §0) on volumes (B, 1, D, Hi, W) (or (D, Hi, W) / (1, D, Hi, W) for one volume,
    /// any float dtype, any device) and question ids/masks (B·L, right padded). The 3D ViT and BERT are frozen and run
    /// without recording; SigLIP and the connectors record when grad is enabled and their weights require it.
    /// <paramref name="training"/> with Dropout on adds the training-mode BERT and TG-IS score dropouts (spec §9);
    /// the returned slice scores are then the dropped ones. The caller owns the result.
    /// </summary>
    public VisionEncoding EncodeVision(Tensor volume, long[] questionIds, long[] questionMask, TrainingOptions? training = null)
    {
        using var scope = TensorScope.Begin();
        var vol = PrepareVolume(volume);                                                   // (B, 1, D, Hi, W)
        int b = vol.Dim(0), depth = vol.Dim(2), hi = vol.Dim(3), w = vol.Dim(4);
        if (questionIds.Length != questionMask.Length || questionIds.Length % b != 0)
        {
            throw new ArgumentException($"Med2E3Model.cs: {questionIds.Length} question ids and {questionMask.Length} mask values for a batch of {b}");
        }
        var (scoreDropout, bertDropout) = DropoutsFor(training);
        Tensor f3, text;
        using (new NoGradScope())
        {
            f3 = Vision3D.Forward(vol);                                                    // (B, N, C3)
            text = TextEncoder.Forward(questionIds, questionMask, b, Device, bertDropout); // (B, C_text)
        }
        var slices = vol.Reshape(b * depth, 1, hi, w);                                     // (B·S, 1, Hi, W), s = depth index
        var f2 = Vision2D.Forward(slices);                                                 // (B·S, T2, C2)
        var z2flat = Vision2DConnector.Forward(f2);                                        // (B·S, T2, D)
        var z2 = z2flat.Reshape(b, depth, z2flat.Dim(1), z2flat.Dim(2));                   // (B, S, T2, D)
        var (z3, scores) = Vision3DConnector.Forward(f3, z2, text, scoreDropout);          // (B, L3, D), (B, S)
        var z2f = Vision3DConnector.Fuse(z2, scores);                                      // (B, T2, D)
        var tokens = F.Concat(1, z3, z2f);                                                 // (B, L3 + T2, D), 3D first
        return new VisionEncoding(scope.Keep(f3), scope.Keep(z2), scope.Keep(text), scope.Keep(z3),
            scope.Keep(scores), scope.Keep(z2f), scope.Keep(tokens));
    }

    /// <summary>
    /// The dropouts of a training step: null for a rate of 0 or evaluation (so p = 0 runs exactly the evaluation path,
    /// fused BERT attention included). Each has its own stream of <see cref="TrainingOptions.Seed"/>.
    /// </summary>
    private static (Dropout? Score, Dropout? Bert) DropoutsFor(TrainingOptions? training)
    {
        if (training is not { Dropout: true }) return (null, null);
        if (!(training.ScoreDropout is >= 0 and < 1) || !(training.BertDropout is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(training),
                $"TrainingOptions.cs: dropout rates must be in [0, 1), got score {training.ScoreDropout} and BERT {training.BertDropout}");
        }
        var score = training.ScoreDropout > 0 ? new Dropout(training.ScoreDropout, Dropout.Stream(training.Seed, 1)) : null;
        var bert = training.BertDropout > 0 ? new Dropout(training.BertDropout, Dropout.Stream(training.Seed, 2)) : null;
        return (score, bert);
    }

    /// <summary>Volume on the model's device and dtype as (B, 1, D, Hi, W), checked against the 3D encoder's img_size.</summary>
    private Tensor PrepareVolume(Tensor volume)
    {
        using var scope = TensorScope.Begin();
        var v = volume.Rank switch
        {
            3 => volume.Reshape(1, 1, volume.Dim(0), volume.Dim(1), volume.Dim(2)),
            4 => volume.Unsqueeze(0),
            5 => volume.Alias(),
            _ => throw new ShapeMismatchException("Med2E3Model", volume.ShapeSpan, "a volume must be (D, Hi, W), (1, D, Hi, W) or (B, 1, D, Hi, W)"),
        };                                                                                 // (B, 1, D, Hi, W)
        int[] img = Checkpoint.Vision3DConfig.ImgSize;
        if (v.Dim(1) != 1 || v.Dim(2) != img[0] || v.Dim(3) != img[1] || v.Dim(4) != img[2])
        {
            throw new ShapeMismatchException("Med2E3Model", volume.ShapeSpan,
                $"the model expects volumes of 1 x {img[0]} x {img[1]} x {img[2]} (resize first, spec §1.2)");
        }
        // At evaluation the volume is cast once to the compute dtype and both branches see the same values (§1.2 step 5).
        var onDevice = v.To(Device);                                                       // (B, 1, D, Hi, W)
        var cast = onDevice.To(DType);                                                     // (B, 1, D, Hi, W)
        return scope.Keep(cast.Contiguous());                                              // (B, 1, D, Hi, W)
    }

    // ------------------------------------------------------------------------------------------------ prompt

    /// <summary>
    /// inputs_embeds for prompt ids with &lt;image3d&gt; sentinels (−201) (spec §7.4): text runs are embedded with
    /// embed_tokens, each sentinel is replaced by the visual tokens (1, Nv, D) (the sequence grows by Nv − 1), and the
    /// result is truncated to <see cref="MaxLength"/> → (1, T, D).
    /// </summary>
    public Tensor EmbedPrompt(IReadOnlyList<int> promptIds, Tensor visionTokens)
    {
        using var scope = TensorScope.Begin();
        var pieces = new List<Tensor>();
        var run = new List<long>();
        void Flush()
        {
            if (run.Count == 0) return;
            using var ids = Tensor.FromArray(run.ToArray(), 1, run.Count);                 // (1, n)
            var idsDev = ids.To(Device);                                                   // (1, n)
            pieces.Add(Llm.Embed(idsDev));                                                 // (1, n, D)
            run.Clear();
        }
        int vocab = Llm.Config.VocabSize;
        foreach (int id in promptIds)
        {
            if (id == Phi3Tokenizer.Image3DTokenId)
            {
                Flush();
                pieces.Add(visionTokens.Alias());                                          // (1, Nv, D)
            }
            else if (id == Phi3Tokenizer.ImageTokenId)
            {
                throw new NotSupportedException("Med2E3Model.cs: 2D <image> placeholders (−200) are not used by Med-2E3 volumes");
            }
            else if (id < 0 || id >= vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(promptIds), id, $"Med2E3Model.cs: token id outside the vocabulary (0 … {vocab - 1})");
            }
            else
            {
                run.Add(id);
            }
        }
        Flush();
        if (pieces.Count == 0) throw new ArgumentException("Med2E3Model.cs: empty prompt", nameof(promptIds));
        var embeds = pieces.Count == 1 ? pieces[0] : F.Concat(1, [.. pieces]);             // (1, T, D)
        if (embeds.Dim(1) > MaxLength)
        {
            embeds = embeds.Narrow(1, 0, MaxLength);                                       // (1, MaxLength, D)
        }
        return scope.Keep(embeds.Contiguous());                                            // (1, T, D)
    }

    /// <summary>
    /// Labels aligned with <see cref="EmbedPrompt"/>: each sentinel becomes <paramref name="visualTokens"/> copies of
    /// −100, then truncated to <see cref="MaxLength"/>.
    /// </summary>
    public long[] SpliceLabels(IReadOnlyList<int> promptIds, IReadOnlyList<int> labels, int visualTokens)
    {
        if (promptIds.Count != labels.Count)
        {
            throw new ArgumentException($"Med2E3Model.cs: {promptIds.Count} ids but {labels.Count} labels");
        }
        var result = new List<long>();
        for (int i = 0; i < promptIds.Count; i++)
        {
            if (promptIds[i] == Phi3Tokenizer.Image3DTokenId)
            {
                result.AddRange(Enumerable.Repeat((long)PhiTemplate.IgnoreIndex, visualTokens));
            }
            else
            {
                result.Add(labels[i]);
            }
        }
        return [.. result.Take(MaxLength)];
    }

    // ------------------------------------------------------------------------------------------------ generation

    /// <summary>
    /// Answers <paramref name="question"/> about <paramref name="volume"/> (1, 1, D, Hi, W) (already cropped and
    /// resized, values in [0,1], spec §1): BERT reads the question, the phi template wraps it with &lt;image3d&gt;, and
    /// Phi-3 decodes greedily (or samples) until eos or the length cap (spec §6.5). Tokens are streamed to
    /// <see cref="GenerationOptions.OnToken"/>.
    /// </summary>
    public GenerationResult Generate(Tensor volume, string question, GenerationOptions? options = null)
    {
        var (promptQuestion, bertQuestion) = SplitQuestion(question);
        return Generate(volume, PhiTemplate.BuildPrompt(promptQuestion), bertQuestion, options);
    }

    /// <summary>
    /// Answers a prompt that is already rendered (for example an M3D conversation in the phi template, with its
    /// &lt;image3d&gt; placeholder) while BERT scores the slices against the separate <paramref name="bertQuestion"/>,
    /// as the official evaluation does (spec §3.1).
    /// </summary>
    public GenerationResult Generate(Tensor volume, string prompt, string bertQuestion, GenerationOptions? options = null)
    {
        options ??= new GenerationOptions();
        options.CancellationToken.ThrowIfCancellationRequested();
        int[] promptIds = Tokenizer.EncodePrompt(prompt);
        var (questionIds, questionMask) = QuestionInputs(bertQuestion);
        using var noGrad = new NoGradScope();
        using var scope = TensorScope.Begin();
        var clock = Stopwatch.StartNew();
        using var vision = EncodeVision(volume, questionIds, questionMask);
        if (vision.VisionTokens.Dim(0) != 1)
        {
            throw new ArgumentException("Med2E3Model.cs: Generate takes one volume (batch 1)");
        }
        float[] scores = vision.SliceScores.To(Device.Cpu).To(DType.F32).ToFloatArray();   // S floats on the host
        var visionTime = clock.Elapsed;
        options.CancellationToken.ThrowIfCancellationRequested();
        var embeds = EmbedPrompt(promptIds, vision.VisionTokens);                          // (1, T, D)
        var (ids, stop, prefillTime, decodeTime, steps) = GenerateFromEmbeddings(embeds, options);
        var result = new GenerationResult(ids, Tokenizer.Decode(ids), scores, embeds.Dim(1), stop,
            new GenerationTimings(visionTime, prefillTime, decodeTime, steps));
        Med2E3Log.Generated(Logger, ids.Length, stop, visionTime.TotalSeconds, prefillTime.TotalSeconds,
            decodeTime.TotalSeconds, result.Timings.DecodeTokensPerSecond);
        return result;
    }

    /// <summary>
    /// The decoding loop on prompt embeddings (1, T, D): prefill into a KV cache, then one <see cref="Phi3.DecodeStep"/>
    /// per token. Returns the new ids (stop token included), why it stopped, and timings. Once
    /// <see cref="GenerationOptions.CancellationToken"/> is cancelled it stops before the next decode step (the KV
    /// cache and logits are freed) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public (int[] Ids, string StopReason, TimeSpan Prefill, TimeSpan Decode, int DecodeSteps) GenerateFromEmbeddings(
        Tensor inputsEmbeds, GenerationOptions options)
    {
        int promptLength = inputsEmbeds.Dim(1);
        int maxNew = options.MaxNewTokens ?? Math.Max(0, (options.MaxTotalLength ?? MaxLength) - promptLength);
        // The decoder has no positions beyond max_position_embeddings, and the KV cache is sized from this count:
        // a longer request stops there ("length") instead of asking for a cache of any size.
        maxNew = (int)Math.Min(maxNew, Math.Max(0L, (long)Llm.Config.MaxPositionEmbeddings - promptLength));
        var stops = new HashSet<int>(options.StopTokenIds ?? [Tokenizer.EosTokenId]);
        var rng = new SeededRandom(options.Seed ?? Random.Shared.NextInt64());
        var ids = new List<int>();
        string decoded = "";
        var clock = Stopwatch.StartNew();
        if (maxNew <= 0) return ([], "length", TimeSpan.Zero, TimeSpan.Zero, 0);

        using var noGrad = new NoGradScope();
        using var cache = Llm.CreateCache(1, promptLength + maxNew, DType, Device);
        Tensor logits;
        using (var prefillScope = TensorScope.Begin())
        {
            logits = prefillScope.Keep(Llm.Prefill(inputsEmbeds, cache));                   // (1, V)
        }
        TimeSpan prefill = TimeSpan.Zero;
        string stop = "length";
        int steps = 0;
        try
        {
            for (int i = 0; i < maxNew; i++)
            {
                int next = PickToken(logits, options, rng);
                if (i == 0) prefill = clock.Elapsed;
                ids.Add(next);
                bool isEos = stops.Contains(next);
                bool isLast = isEos || i == maxNew - 1;
                if (options.OnToken is { } onToken)
                {
                    // A byte-fallback character spread over several tokens decodes to U+FFFD until it is complete:
                    // hold the text back until then, except at the last token.
                    string text = Tokenizer.Decode(ids);
                    string delta = "";
                    if (!text.EndsWith('\uFFFD') || isLast)
                    {
                        delta = text.StartsWith(decoded, StringComparison.Ordinal) ? text[decoded.Length..] : text;
                        decoded = text;
                    }
                    onToken(new GeneratedToken(i, next, delta, isEos) { IsLast = isLast, Elapsed = clock.Elapsed });
                }
                if (isEos)
                {
                    stop = "eos";
                    break;
                }
                if (isLast) break;
                options.CancellationToken.ThrowIfCancellationRequested();
                using var stepScope = TensorScope.Begin();
                using var idCpu = Tensor.FromArray(new long[] { next }, 1);                 // (1)
                var idDev = idCpu.To(Device);                                               // (1)
                var nextLogits = stepScope.Keep(Llm.DecodeStep(idDev, cache));              // (1, V)
                logits.Dispose();
                logits = nextLogits;
                steps++;
            }
        }
        finally
        {
            logits.Dispose();
        }
        return ([.. ids], stop, prefill, clock.Elapsed - prefill, steps);
    }

    /// <summary>Greedy argmax (temperature 0) or seeded temperature / top-k / top-p sampling from logits (1, V).</summary>
    private static int PickToken(Tensor logits, GenerationOptions options, SeededRandom rng)
    {
        using var scope = TensorScope.Begin();
        var row = logits.Select(0, 0);                                                      // (V)
        if (options.Temperature <= 0)
        {
            var best = F.Argmax(row);                                                       // () I64
            return (int)best.To(Device.Cpu).ToLongArray()[0];
        }
        // The backend samples in place when it can (only the id comes back); otherwise the row goes to the host.
        if (Backends.For(row.Device).Supports(OpKind.SampleTopP, row.DType))
            return F.SampleTopP(row, options.Temperature, options.TopK, options.TopP, rng);
        var host = row.To(Device.Cpu).To(DType.F32);                                        // (V)
        return F.SampleTopP(host, options.Temperature, options.TopK, options.TopP, rng);
    }

    // ------------------------------------------------------------------------------------------------ training

    /// <summary>
    /// Marks the fine-tuning parameters (llm, vision2d_model, both connectors; spec §9 stage 2) as requiring grad and
    /// the frozen M3D-CLIP (3D ViT and BERT) as not; optionally recomputes SigLIP and Phi-3 layers in backward.
    /// </summary>
    public void EnableFineTuning(bool gradientCheckpointing = false)
    {
        // Trained linear weights become f32 parameter tensors (FineTuneParameters); frozen ones stay prepared.
        var train = new HashSet<Tensor>(FineTuneParameters, ReferenceEqualityComparer.Instance);
        foreach (var p in Parameters.All)
        {
            p.RequiresGrad = train.Contains(p);
        }
        Vision2D.GradientCheckpointing = gradientCheckpointing;
        Llm.GradientCheckpointing = gradientCheckpointing;
    }

    /// <summary>
    /// Fine-tuning loss for one example with the phi template: "&lt;image3d&gt;\n" + question as the user turn and
    /// " " + answer + &lt;|endoftext|&gt; as the trained tokens. Returns the scalar loss (call Backward on it).
    /// <paramref name="training"/> null (or Dropout off) is evaluation semantics, as the golden loss; with Dropout on,
    /// the step applies the seeded training-mode dropouts of spec §9 (augment the volume beforehand with
    /// <see cref="Input.Augment"/>).
    /// </summary>
    public Tensor Loss(Tensor volume, string question, string answer, TrainingOptions? training = null)
    {
        var (promptQuestion, bertQuestion) = SplitQuestion(question);
        var example = PhiTemplate.BuildTraining(Tokenizer, promptQuestion, answer, MaxLength);
        var (questionIds, questionMask) = QuestionInputs(bertQuestion);
        return Loss(volume, questionIds, questionMask, example.InputIds, example.Labels, training);
    }

    /// <summary>
    /// The causal-LM loss of the reference (spec §9): visual tokens spliced at the sentinel with label −100,
    /// logits of every position, mean cross-entropy of position t predicting label t+1 over labels ≠ −100.
    /// Batch 1. Score dropout and BERT dropout are off unless <paramref name="training"/> turns them on (off, as in
    /// the golden gradients, by default). Returns a scalar (1 element).
    /// </summary>
    public Tensor Loss(Tensor volume, long[] questionIds, long[] questionMask, IReadOnlyList<int> trainIds,
        IReadOnlyList<int> labels, TrainingOptions? training = null)
    {
        using var scope = TensorScope.Begin();
        using var vision = EncodeVision(volume, questionIds, questionMask, training);
        var embeds = EmbedPrompt(trainIds, vision.VisionTokens);                           // (1, T, D)
        long[] full = SpliceLabels(trainIds, labels, vision.VisionTokens.Dim(1));
        int t = embeds.Dim(1);
        if (full.Length != t) throw new InvalidOperationException("Med2E3Model.cs: labels and embeddings disagree in length");
        if (t < 2) throw new ArgumentException("Med2E3Model.cs: a training example needs at least two positions");
        var logits = Llm.Forward(embeds);                                                  // (1, T, V)
        var shifted = logits.Narrow(1, 0, t - 1);                                          // (1, T − 1, V)
        using var targetsCpu = Tensor.FromArray(full[1..], 1, t - 1);                      // (1, T − 1)
        var targets = targetsCpu.To(Device);                                               // (1, T − 1)
        var loss = F.CrossEntropy(shifted, targets, PhiTemplate.IgnoreIndex);              // ()
        return scope.Keep(loss);
    }

    public void Dispose() => Parameters.Dispose();
}
