using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Med2E3.Native.Cli.Output;
using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 batch</c>: answers every question of an M3D-style JSON file (<c>vision3d</c>, <c>question</c>,
/// <c>conversations</c>) and writes the answers, with the official scores where reference answers are given.
/// </summary>
public static class BatchCommand
{
    /// <summary>
    /// What <c>batch</c> was asked to do: <c>OutPath</c> gets the answers, one JSON object per line, appended while the
    /// batch runs; <c>SummaryPath</c> the summary and scores, written at the end (null: <see cref="DefaultSummaryPath"/>);
    /// <c>Overwrite</c> replaces existing output files instead of refusing them.
    /// </summary>
    public sealed record Settings(
        string CheckpointDir, string DataPath, string VolumeRoot, string OutPath, string Device, int? MaxNewTokens,
        VolumeOptions.Values? Volume = null, string? SummaryPath = null, bool Overwrite = false,
        Ops.Cpu.CpuPrecision Precision = Ops.Cpu.CpuPrecision.F32);

    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint(required: true);
        var data = CommonOptions.M3DData("M3D-style JSON: a list of {\"vision3d\": path, \"question\": text, \"conversations\": [...]}");
        var volumeRoot = CommonOptions.VolumeRoot();
        var output = new Option<FileInfo>("--out", "-o")
        {
            Description = "Where to write the answers: JSON Lines, one item per line, appended as each item is answered",
            Required = true,
            HelpName = "FILE.jsonl",
        };
        var summaryOut = new Option<FileInfo>("--summary")
        {
            Description = "Where to write the summary and scores at the end (default: --out with the extension .summary.json)",
            HelpName = "FILE.json",
        };
        var overwrite = CommonOptions.Overwrite("Replace existing --out and --summary files");
        var device = CommonOptions.Device();
        var precision = CommonOptions.Precision();
        var maxNewTokens = CommonOptions.PositiveInt("--max-new-tokens",
            "Stop each answer after N new tokens (default: the llm_max_length cap, as in evaluation)");

        var command = new Command("batch", "Answer every question of an M3D-style JSON file; score against the reference answers")
        {
            checkpoint, data, volumeRoot, output, summaryOut, overwrite, device, precision, maxNewTokens,
        };
        var volumeOptions = VolumeOptions.AddTo(command);
        command.SetAction(parse =>
        {
            var settings = new Settings(
                parse.GetValue(checkpoint)!.FullName, parse.GetValue(data)!.FullName, parse.GetValue(volumeRoot)!.FullName,
                parse.GetValue(output)!.FullName, parse.GetValue(device) ?? "auto", parse.GetValue(maxNewTokens),
                volumeOptions.Get(parse), parse.GetValue(summaryOut)?.FullName, parse.GetValue(overwrite),
                CommonOptions.ParsePrecision(parse.GetValue(precision)));
            var terminal = Terminal.Create(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
                json: false, parse.GetValue<bool>("--verbose"));
            return Run(settings, terminal);
        });
        return command;
    }

    /// <summary>The <c>--summary</c> document (snake_case keys); the items are the lines of <c>answers</c>.</summary>
    public sealed record Report(string Checkpoint, string Data, string VolumeRoot, string Device, int? MaxNewTokens,
        string Answers, SummaryReport Summary);

    /// <summary><c>--out</c> with its extension replaced by <c>.summary.json</c>.</summary>
    public static string DefaultSummaryPath(string outPath) => Path.ChangeExtension(outPath, null) + ".summary.json";

    /// <summary>
    /// One line of <c>--out</c>: what was asked, the answer, and its scores. <c>correct</c> is the closed-VQA check
    /// ("B." in the answer) when the item has an answer_choice, else null; <c>scores</c> are BLEU / ROUGE against the
    /// reference answer when there is one, else null; <c>error</c> says why an item has no answer (a bad volume).
    /// </summary>
    public sealed record ItemReport(int Index, string? Id, string? Vision3d, string? QuestionType, string Question,
        string? Answer, string? Reference, string? AnswerChoice, bool? Correct, TextScores? Scores, int[]? TokenIds,
        string? StopReason, float[]? SliceScores, double Seconds, string? Error);

    public sealed record SummaryReport(int Items, int Answered, int Failed, double Seconds, double VolumesPerSecond,
        MetricReport? ClosedAccuracy, MetricReport? Bleu1, MetricReport? Bleu4, MetricReport? Rouge1, MetricReport? RougeL);

    /// <summary>A metric as the official scripts report it: overall mean, mean over question types, per type.</summary>
    public sealed record MetricReport(double Overall, double MeanOverTypes, int Count, IReadOnlyDictionary<string, double> PerType);

    public static int Run(Settings settings, Terminal terminal)
    {
        var clock = Stopwatch.StartNew();
        string device = DeviceChoice.Resolve(settings.Device);
        CommonOptions.CheckM3DPaths(settings.DataPath, settings.VolumeRoot, settings.CheckpointDir);
        // --out /dev/stdout and the like have no place for a summary next to them: it is printed only.
        string? summaryPath = settings.SummaryPath
            ?? (AtomicFile.IsDevice(settings.OutPath) ? null : DefaultSummaryPath(settings.OutPath));
        CommonOptions.CheckOutputFile(settings.OutPath, settings.Overwrite);
        if (summaryPath is not null) CommonOptions.CheckOutputFile(summaryPath, settings.Overwrite);

        List<M3DItem> items = CommonOptions.LoadM3DItems(settings.DataPath);
        string? VolumePath(M3DItem item) =>
            item.Vision3D.Count == 1 ? Path.GetFullPath(Path.Combine(settings.VolumeRoot, item.Vision3D[0])) : null;
        if (items.All(item => VolumePath(item) is not { } p || !File.Exists(p) && !Directory.Exists(p)))
            throw CliException.BadInput($"{settings.DataPath}: none of the {items.Count} volumes exists under {settings.VolumeRoot} "
                + $"(first: {VolumePath(items[0]) ?? string.Join(", ", items[0].Vision3D)})");

        var (model, _) = terminal.Stage($"Loading weights on {device}",
            () => Med2E3Model.Load(settings.CheckpointDir, device, new Med2E3LoadOptions { Precision = settings.Precision }));
        using var _model = model;
        int[] imgSize = model.Checkpoint.Vision3DConfig.ImgSize;
        var options = new GenerationOptions { MaxNewTokens = settings.MaxNewTokens };

        var reports = new List<ItemReport>();
        var answerClock = Stopwatch.StartNew();
        using var answers = JsonLinesFile.Create(settings.OutPath, settings.Overwrite);
        terminal.Progress("Answering", items.Count, "volumes", advance =>
        {
            foreach (M3DItem item in items)
            {
                var itemClock = Stopwatch.StartNew();
                string? path = VolumePath(item);
                ItemReport report;
                try
                {
                    if (path is null)
                        throw CliException.BadInput($"{settings.DataPath}: item {item.Index}: {item.Vision3D.Count} volumes; one per item is supported");
                    var (source, prepared) = VolumeInput.Read(path, imgSize, settings.Volume ?? VolumeOptions.Values.Default,
                        model.Device);
                    using var input = prepared;
                    foreach (string line in VolumeInput.Describe(source, input))
                        terminal.Detail(line);
                    using var volume = input.ToTensor();                       // (B, 1, D, H, W) on the model's device
                    GenerationResult result = Answer(model, volume, item, options);
                    report = Score(item, path, result, itemClock.Elapsed.TotalSeconds);
                }
                catch (Exception e) when (Failure.Classify(e).ExitCode == ExitCodes.BadInput)
                {
                    string message = Failure.Classify(e).Message;
                    terminal.Note($"item {item.Index}: {message}");
                    report = new ItemReport(item.Index, item.Id, path ?? string.Join(", ", item.Vision3D), item.QuestionType,
                        item.Question, null, item.ReferenceAnswer, item.AnswerChoice, null, null, null, null, null,
                        itemClock.Elapsed.TotalSeconds, message);
                }
                reports.Add(report);
                answers.Append(report);
                advance($"item {item.Index} ({Path.GetFileName(path ?? "?")})");
            }
        });

        answers.Complete();
        double seconds = answerClock.Elapsed.TotalSeconds;
        var summary = Summarize(reports, seconds);
        var document = new Report(settings.CheckpointDir, settings.DataPath, settings.VolumeRoot, device, settings.MaxNewTokens,
            settings.OutPath, summary);
        if (summaryPath is not null)
            AtomicFile.WriteAllText(summaryPath, JsonSerializer.Serialize(document, Json.Options) + "\n");

        WriteSummary(terminal.Out, summary, settings.OutPath, summaryPath);
        terminal.Status($"total {clock.Elapsed.TotalSeconds:0.00} s on {device}");
        if (summary.Failed > 0)
            throw CliException.BadInput($"{summary.Failed} of {summary.Items} items could not be answered (bad volume files); "
                + $"their errors are in {settings.OutPath}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// One item, as the official evaluation runs it: the Phi-3 prompt is the item's conversation (phi template,
    /// ending in "ASSISTANT:"), the TG-IS question is its separate <c>question</c> field (spec §3.1).
    /// </summary>
    static GenerationResult Answer(Med2E3Model model, Tensor volume, M3DItem item, GenerationOptions options) =>
        model.Generate(volume, item.Prompt, item.Question, options);

    static ItemReport Score(M3DItem item, string path, GenerationResult result, double seconds)
    {
        string? reference = item.ReferenceAnswer;
        bool? correct = item.AnswerChoice is { } choice ? M3DMetrics.IsClosedCorrect(result.Text, choice) : null;
        TextScores? scores = reference is null ? null : M3DMetrics.ScoreText(result.Text, reference);
        return new ItemReport(item.Index, item.Id, path, item.QuestionType, item.Question, result.Text, reference,
            item.AnswerChoice, correct, scores, result.TokenIds, result.StopReason, result.SliceScores, seconds, null);
    }

    static SummaryReport Summarize(IReadOnlyList<ItemReport> items, double seconds)
    {
        var answered = items.Where(i => i.Error is null).ToList();
        MetricReport? Metric(IEnumerable<(string Type, double Score)> samples)
        {
            var list = samples.ToList();
            if (list.Count == 0) return null;
            var s = M3DMetrics.Summarize(list);
            return new MetricReport(s.Overall, s.MeanOverTypes, s.Count, s.PerType.ToDictionary(t => t.QuestionType, t => t.Mean));
        }
        string TypeOf(ItemReport i) => i.QuestionType ?? "all";
        var scored = answered.Where(i => i.Scores is not null).ToList();
        return new SummaryReport(
            Items: items.Count,
            Answered: answered.Count,
            Failed: items.Count - answered.Count,
            Seconds: Math.Round(seconds, 3),
            VolumesPerSecond: Math.Round(answered.Count / Math.Max(seconds, 1e-9), 3),
            ClosedAccuracy: Metric(answered.Where(i => i.Correct is not null).Select(i => (TypeOf(i), i.Correct!.Value ? 1.0 : 0.0))),
            Bleu1: Metric(scored.Select(i => (TypeOf(i), i.Scores!.Bleu1))),
            Bleu4: Metric(scored.Select(i => (TypeOf(i), i.Scores!.Bleu4))),
            Rouge1: Metric(scored.Select(i => (TypeOf(i), i.Scores!.Rouge1))),
            RougeL: Metric(scored.Select(i => (TypeOf(i), i.Scores!.RougeL))));
    }

    static void WriteSummary(TextWriter stdout, SummaryReport s, string outPath, string? summaryPath)
    {
        stdout.WriteLine($"answered {s.Answered}/{s.Items}{(s.Failed > 0 ? $" ({s.Failed} failed)" : "")} in {s.Seconds:0.00} s, "
            + $"{s.VolumesPerSecond:0.00} volumes/s → {outPath}{(summaryPath is null ? "" : $"; summary → {summaryPath}")}");
        void Row(string name, MetricReport? m)
        {
            if (m is null) return;
            stdout.WriteLine($"  {name,-20} {m.Overall:0.0000}  (mean over {m.PerType.Count} question type(s) {m.MeanOverTypes:0.0000}, {m.Count} items)");
        }
        Row("closed VQA accuracy", s.ClosedAccuracy);
        Row("BLEU-1", s.Bleu1);
        Row("BLEU-4", s.Bleu4);
        Row("ROUGE-1", s.Rouge1);
        Row("ROUGE-L", s.RougeL);
    }
}
