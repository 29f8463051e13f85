using System.Diagnostics;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tokenizers;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Golden;

/// <summary>Bounds of one golden-check run.</summary>
/// <param name="Output">Relative L2 error of every output.* tensor.</param>
/// <param name="Loss">Relative error of the loss.</param>
/// <param name="Gradient">Relative L2 error of every grad.* tensor.</param>
/// <param name="AllGeneratedIds">All greedy ids must match (else only the first).</param>
public sealed record GoldenTolerances(double Output, double Loss, double Gradient, bool AllGeneratedIds)
{
    /// <summary>fp32 (and fp64): outputs 1e-4, loss 1e-5, gradients 1e-3, identical ids. bf16/fp16: outputs and loss
    /// 2e-2, gradients 1e-1, the same first token.</summary>
    public static GoldenTolerances For(DType dtype) => dtype is DType.F32 or DType.F64
        ? new GoldenTolerances(1e-4, 1e-5, 1e-3, true)
        : new GoldenTolerances(2e-2, 2e-2, 1e-1, false);

    /// <summary>
    /// As <see cref="For(DType)"/>, and for an f32 model whose CPU products run in bf16
    /// (<see cref="Ops.Cpu.CpuPrecision.Bf16"/>): the bf16 tolerances, with every greedy id identical.
    /// </summary>
    public static GoldenTolerances For(DType dtype, Ops.Cpu.CpuPrecision precision) =>
        precision == Ops.Cpu.CpuPrecision.Bf16 && dtype is DType.F32 or DType.F64
            ? For(DType.BF16) with { AllGeneratedIds = true }
            : For(dtype);
}

/// <summary>
/// Runs the whole network on a golden fixture and compares every stage with the reference: the tokenizer test
/// vectors, every <c>output.*</c> tensor (encoders, connectors, TG-IS scores, spliced embeddings, logits, LongRoPE
/// long-factor logits, loss), the greedy ids, and every <c>grad.*</c> gradient of the fine-tuning loss.
/// The model always consumes the fixture's own inputs (<c>input.*</c>), so a tokenizer difference shows up in its
/// own rows and does not hide the model rows.
/// </summary>
public static class GoldenCheck
{
    /// <summary>The output tensors in pipeline order.</summary>
    public static readonly IReadOnlyList<string> Outputs =
    [
        "output.vision3d_features", "output.vision2d_features", "output.text_pooled", "output.vision3d_tokens",
        "output.slice_scores", "output.vision2d_aggregated", "output.vision_tokens", "output.inputs_embeds",
        "output.logits", "output.llm_long_logits", "output.loss", "output.generated_ids",
    ];

    /// <summary>Loads the fixture's checkpoint on <paramref name="device"/> and runs every comparison.</summary>
    /// <exception cref="GoldenFixtureException">The fixture folder is incomplete.</exception>
    public static GoldenReport Run(string fixtureDir, string device = "cpu", Med2E3LoadOptions? options = null)
    {
        var clock = Stopwatch.StartNew();
        var fx = GoldenFixture.Open(fixtureDir);
        options ??= new Med2E3LoadOptions();
        if (options.BertVocabPath is null && File.Exists(fx.BertVocabPath))
        {
            options = options with { BertVocabPath = fx.BertVocabPath };
        }
        using var model = Med2E3Model.Load(fx.CheckpointDir, device, options);
        var tol = GoldenTolerances.For(model.DType, options.Precision);
        string dtype = options.Precision == Ops.Cpu.CpuPrecision.Bf16
            ? $"{model.DType.Name()}, bf16 CPU products"
            : model.DType.Name();
        var report = new GoldenReport(fx.Root, model.Device.ToString(), dtype);
        CheckTokenizers(fx, model, report);
        CheckModel(fx, model, tol, report);
        report.Elapsed = clock.Elapsed;
        return report;
    }

    // ------------------------------------------------------------------------------------------------ tokenizers

    private static void CheckTokenizers(GoldenFixture fx, Med2E3Model model, GoldenReport report)
    {
        var phi = model.Tokenizer;
        foreach (var (text, ids) in fx.IdTable("phi_tokenizer"))
        {
            report.Add(Ids($"tokenizer.phi {Quote(text)}", phi.Encode(text), ids));
        }
        foreach (var (text, ids) in fx.IdTable("sentencepiece"))
        {
            report.Add(Ids($"tokenizer.sentencepiece {Quote(text)}", phi.EncodeSentencePiece(text), ids));
        }
        var phiIds = fx.IdTable("phi_tokenizer").ToDictionary(p => p.Text, p => p.Ids);
        foreach (var (text, expected) in fx.StringTable("phi_decode"))
        {
            string name = $"tokenizer.phi_decode {Quote(text)}";
            if (!phiIds.TryGetValue(text, out var ids))
            {
                report.Add(new GoldenRow(name, null, null, 0, false, "no phi_tokenizer ids for this string"));
                continue;
            }
            string got = phi.Decode(ids);
            report.Add(new GoldenRow(name, null, null, 0, got == expected,
                got == expected ? "equal" : $"got {Quote(got)}, expected {Quote(expected)}"));
        }
        var masks = fx.IdTable("bert_mask").ToDictionary(p => p.Text, p => p.Ids);
        foreach (var (text, ids) in fx.IdTable("bert"))
        {
            var enc = model.QuestionTokenizer.Encode(text, ids.Length);
            var row = Ids($"tokenizer.bert {Quote(text)}", enc.Ids, ids);
            if (row.Passed && masks.TryGetValue(text, out var mask) && !enc.Mask.SequenceEqual(mask))
            {
                row = row with { Passed = false, Detail = "ids equal, mask differs" };
            }
            report.Add(row);
        }

        // The prompts the model is run with, rebuilt from the fixture's strings.
        var (promptQuestion, bertQuestion) = Med2E3Model.SplitQuestion(fx.Question);
        string prompt = PhiTemplate.BuildPrompt(promptQuestion);
        report.Add(new GoldenRow("prompt.generation_text", null, null, 0, prompt == fx.GenerationPrompt,
            prompt == fx.GenerationPrompt ? "phi template string equal" : $"got {Quote(prompt)}"));
        report.Add(Ids("prompt.generation_ids", phi.EncodePrompt(prompt), ToInts(fx.Longs("input.prompt_ids"))));
        var training = PhiTemplate.BuildTraining(phi, promptQuestion, fx.Answer, model.MaxLength);
        report.Add(Ids("prompt.training_ids", training.InputIds, ToInts(fx.Longs("input.train_ids"))));
        report.Add(Ids("prompt.training_labels", training.Labels, ToInts(fx.Longs("input.train_labels"))));
        long[] goldenQuestion = fx.Longs("input.questions");
        var q = model.QuestionTokenizer.Encode(bertQuestion, goldenQuestion.Length);
        var qRow = Ids("prompt.question_ids", q.Ids, ToInts(goldenQuestion));
        if (qRow.Passed && !q.Mask.SequenceEqual(ToInts(fx.Longs("input.questions_mask"))))
        {
            qRow = qRow with { Passed = false, Detail = "ids equal, mask differs" };
        }
        report.Add(qRow);
    }

    // ------------------------------------------------------------------------------------------------ model

    private static void CheckModel(GoldenFixture fx, Med2E3Model model, GoldenTolerances tol, GoldenReport report)
    {
        var computed = new Dictionary<string, float[]>();
        int[] generated;
        float loss;
        var volumeInfo = fx.Tensor("input.volume");
        long[] qIds = fx.Longs("input.questions"), qMask = fx.Longs("input.questions_mask");
        int[] promptIds = ToInts(fx.Longs("input.prompt_ids"));
        using (var scope = TensorScope.Begin())
        {
            var volume = Tensor.FromFloats(volumeInfo.ToFloat32(), volumeInfo.GetShape(), DType.F32);  // (1, 1, D, Hi, W)
            using (new NoGradScope())
            {
                using var vision = model.EncodeVision(volume, qIds, qMask);
                computed["output.vision3d_features"] = Host(vision.Features3D);
                computed["output.vision2d_features"] = Host(vision.Slices2D);
                computed["output.text_pooled"] = Host(vision.TextPooled);
                computed["output.vision3d_tokens"] = Host(vision.Tokens3D);
                computed["output.slice_scores"] = Host(vision.SliceScores);
                computed["output.vision2d_aggregated"] = Host(vision.Aggregated2D);
                computed["output.vision_tokens"] = Host(vision.VisionTokens);
                var embeds = model.EmbedPrompt(promptIds, vision.VisionTokens);                        // (1, T, D)
                computed["output.inputs_embeds"] = Host(embeds);
                computed["output.logits"] = Host(model.Llm.Forward(embeds));                            // (1, T, V)
                if (fx.Has("input.llm_long_embeds"))
                {
                    var longInfo = fx.Tensor("input.llm_long_embeds");
                    int[] shape = [1, .. longInfo.GetShape()];
                    var longEmbeds = Tensor.FromFloats(longInfo.ToFloat32(), shape, model.DType, model.Device); // (1, T, D)
                    computed["output.llm_long_logits"] = Host(model.Llm.Forward(longEmbeds));          // (1, T, V)
                }
                generated = model.GenerateFromEmbeddings(embeds, new GenerationOptions { MaxNewTokens = fx.MaxNewTokens }).Ids;
            }

            model.EnableFineTuning();
            var lossTensor = model.Loss(volume, qIds, qMask, ToInts(fx.Longs("input.train_ids")),
                ToInts(fx.Longs("input.train_labels")));                                              // ()
            loss = Host(lossTensor)[0];
            lossTensor.Backward();
        }

        var outputs = Outputs.Concat(fx.Golden.Keys.Where(k => k.StartsWith("output.", StringComparison.Ordinal)))
            .Distinct().Where(fx.Has);
        foreach (string key in outputs)
        {
            if (key == "output.generated_ids")
            {
                report.Add(GeneratedIds(generated, ToInts(fx.Longs(key)), tol.AllGeneratedIds));
            }
            else if (key == "output.loss")
            {
                double r = fx.Floats(key)[0], d = Math.Abs(loss - r), rel = d / Math.Max(Math.Abs(r), 1e-30);
                report.Add(new GoldenRow(key, d, rel, tol.Loss, rel <= tol.Loss, $"loss {loss:R} vs {r:R}"));
            }
            else if (computed.TryGetValue(key, out var values))
            {
                report.Add(Compare(key, values, fx.Floats(key), tol.Output));
            }
            else
            {
                report.Add(new GoldenRow(key, null, null, tol.Output, false, "not computed by this golden check"));
            }
        }

        var gradKeys = fx.Golden.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).ToList();
        // ‖reference gradient‖₂ of each component (llm, vision2d_model, …): the scale that tells a gradient that is
        // zero in exact arithmetic from a small one (see GradientRow).
        var componentNorms = gradKeys
            .GroupBy(k => k.Split('.')[1])
            .ToDictionary(g => g.Key, g => Math.Sqrt(g.Sum(k => fx.Floats(k).Sum(v => (double)v * v))));
        foreach (string key in gradKeys)
        {
            string name = key["grad.".Length..];
            if (!model.Parameters.Contains(name))
            {
                report.Add(new GoldenRow(key, null, null, tol.Gradient, false, "no such parameter in the model"));
                continue;
            }
            var grad = model.Parameters[name].Grad;
            report.Add(grad is null
                ? new GoldenRow(key, null, null, tol.Gradient, false, "no gradient reached this parameter")
                : GradientRow(key, Host(grad), fx.Floats(key), tol.Gradient, componentNorms[key.Split('.')[1]]));
        }
        model.Parameters.ZeroGrad();
    }

    /// <summary>
    /// Below this fraction of its component's gradient norm a gradient counts as zero in exact arithmetic, at the fp32
    /// gradient tolerance (1e-3); the floor scales with the tolerance, since the round-off residue of an exact
    /// cancellation grows with the precision as the error does (bf16, tolerance 1e-1: 1e-4).
    /// </summary>
    public const double ZeroGradientFraction = 1e-6;

    /// <summary>
    /// A gradient row: relative L2 error within <paramref name="tolerance"/>, or — for a gradient that is zero in exact
    /// arithmetic, where a relative error compares two round-off residues — both norms below
    /// <see cref="ZeroGradientFraction"/> × the component's gradient norm. The case that occurs: the bias of an
    /// attention key projection adds q·b to every logit of a softmax row and so has no effect on the loss.
    /// </summary>
    public static GoldenRow GradientRow(string name, float[] actual, float[] reference, double tolerance, double componentNorm)
    {
        var row = Compare(name, actual, reference, tolerance);
        if (row.Passed || actual.Length != reference.Length) return row;
        double refNorm = Math.Sqrt(reference.Sum(v => (double)v * v));
        double gotNorm = Math.Sqrt(actual.Sum(v => (double)v * v));
        double fraction = ZeroGradientFraction * (tolerance / 1e-3);
        double floor = fraction * componentNorm;
        if (refNorm <= floor && gotNorm <= floor)
        {
            return row with
            {
                Passed = true,
                Detail = "zero in exact arithmetic: ‖ref‖ " + Sci(refNorm) + " and ‖got‖ " + Sci(gotNorm) + " ≤ " +
                         Sci(fraction) + "·‖" + name.Split('.')[1] + " grads‖ = " + Sci(floor),
            };
        }
        return row;
    }

    private static GoldenRow GeneratedIds(int[] got, int[] expected, bool all)
    {
        int prefix = 0;
        while (prefix < got.Length && prefix < expected.Length && got[prefix] == expected[prefix]) prefix++;
        bool equal = got.SequenceEqual(expected);
        bool passed = all ? equal : prefix >= 1;
        string detail = equal
            ? $"{got.Length} greedy ids equal"
            : $"{prefix} leading ids equal; got [{string.Join(", ", got)}], expected [{string.Join(", ", expected)}]";
        return new GoldenRow("output.generated_ids", null, null, 0, passed, detail);
    }

    /// <summary>max |a − r| and ‖a − r‖₂ / ‖r‖₂ (‖a − r‖₂ when r = 0).</summary>
    public static GoldenRow Compare(string name, float[] actual, float[] reference, double tolerance)
    {
        if (actual.Length != reference.Length)
        {
            return new GoldenRow(name, null, null, tolerance, false,
                $"{actual.Length} values computed, {reference.Length} in the reference");
        }
        double maxAbs = 0, diff2 = 0, ref2 = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = (double)actual[i] - reference[i];
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, Math.Abs(d));
            diff2 += d * d;
            ref2 += (double)reference[i] * reference[i];
        }
        double rel = ref2 > 0 ? Math.Sqrt(diff2) / Math.Sqrt(ref2) : Math.Sqrt(diff2);
        return new GoldenRow(name, maxAbs, rel, tolerance, rel <= tolerance, $"{actual.Length} values");
    }

    private static GoldenRow Ids(string name, IReadOnlyList<int> got, IReadOnlyList<int> expected)
    {
        if (got.SequenceEqual(expected)) return new GoldenRow(name, null, null, 0, true, $"{got.Count} ids equal");
        int first = 0;
        while (first < got.Count && first < expected.Count && got[first] == expected[first]) first++;
        return new GoldenRow(name, null, null, 0, false,
            $"first difference at {first}: got [{string.Join(", ", got.Skip(first).Take(6))}…] ({got.Count} ids), " +
            $"expected [{string.Join(", ", expected.Skip(first).Take(6))}…] ({expected.Count} ids)");
    }

    private static float[] Host(Tensor t)
    {
        using var scope = TensorScope.Begin();
        return t.To(Device.Cpu).To(DType.F32).Contiguous().ToFloatArray();
    }

    private static string Sci(double v) => v.ToString("0.00e+00", System.Globalization.CultureInfo.InvariantCulture);

    private static int[] ToInts(long[] v) => [.. v.Select(x => checked((int)x))];

    private static string Quote(string s)
    {
        string e = s.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\"", "\\\"");
        return "\"" + (e.Length > 40 ? e[..37] + "..." : e) + "\"";
    }
}
