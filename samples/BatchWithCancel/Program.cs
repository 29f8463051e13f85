// Answers a batch of questions about several volumes, one at a time, and stops cleanly on Ctrl+C: the answer being
// generated stops at its next token, its memory is freed, and the answers finished so far are kept.
// dotnet run -- [CHECKPOINT VOLUME...] [--max-new-tokens N]; without a checkpoint: the tiny demo model in the package.
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;

int flag = Array.IndexOf(args, "--max-new-tokens");
int maxNewTokens = flag >= 0 ? int.Parse(args[flag + 1]) : 64;
string[] paths = [.. args.Where((_, i) => flag < 0 || (i != flag && i != flag + 1))];
DemoFiles? demo = paths.Length == 0 ? DemoAssets.Extract() : null;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;                                             // keep the process alive; finish cleanly below
    Console.Error.WriteLine("\nCtrl+C: stopping at the next token");
    stop.Cancel();
};

int done = 0, total = 0;
try
{
    var progress = new Progress<LoadProgress>(p => Console.Error.WriteLine($"loading {p.Step} ({p.Completed}/{p.Total})"));
    using var model = await Med2E3Model.LoadAsync(demo?.CheckpointDir ?? paths[0],
        new Med2E3LoadOptions { BertVocabPath = demo?.TextVocabPath }, progress, stop.Token);

    // Volumes from files, from a stream (the embedded CT phantom, raw Hounsfield units, so windowed) and from an array.
    var volumes = new List<(string Name, Func<Tensor> Prepare)>();
    foreach (string file in demo is null ? paths[1..] : [demo.VolumePath])
        volumes.Add((Path.GetFileName(file), () => model.PreprocessVolume(VolumeSource.FromFile(file))));
    volumes.Add(("CT phantom (stream)", () =>
    {
        using var stream = SampleVolumes.OpenDemo();
        return model.PreprocessVolume(VolumeSource.FromStream(stream, SampleVolumes.DemoFileName),
            model.PreprocessOptions with { Window = SampleVolumes.DemoWindow });
    }));
    volumes.Add(("phantom (array)", () => model.PreprocessVolume(VolumeSource.FromArray(Phantom.M3DStyle(16, 64, 64), 16, 64, 64, "phantom"))));
    string[] questions = ["What abnormality is seen in the liver?", "Which organ is enlarged?", "Is there a lesion in the liver?"];

    total = volumes.Count * questions.Length;
    foreach (var (name, prepare) in volumes)
    {
        using var volume = prepare();
        foreach (string question in questions)
        {
            var answer = new System.Text.StringBuilder();
            GenerationResult? result = null;
            await foreach (var token in model.GenerateAsync(volume, question, new GenerationOptions { MaxNewTokens = maxNewTokens }, stop.Token))
            {
                answer.Append(token.TextDelta);
                result = token.Result;
            }
            done++;
            int top = Array.IndexOf(result!.SliceScores, result.SliceScores.Max());
            Console.WriteLine($"[{done}/{total}] {name}: {question} -> {result.TokenIds.Length} tokens, top slice {top} " +
                $"({result.SliceScores[top]:0.000}), {result.Timings.Total.TotalMilliseconds:0} ms; answer {answer.Length} chars");
        }
    }
    Console.WriteLine($"done: {done} answers");
    return 0;
}
catch (OperationCanceledException)
{
    Console.WriteLine($"cancelled: {done} of {total} answers finished");
    return 130;                                                  // the shell's code for "stopped by Ctrl+C"
}
