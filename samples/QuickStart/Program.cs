// Load a Med-2E3 checkpoint, preprocess a volume, stream the answer, print the TG-IS slice scores.
// dotnet run -- CHECKPOINT VOLUME "QUESTION"; without arguments: the tiny demo model in the package (random weights)
// on the PyTorch reference run's input volume, so its ids can be checked against that run.
using Med2E3.Native.Models.Demo;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;

DemoFiles? demo = args.Length == 0 ? DemoAssets.Extract() : null;
string checkpoint = demo?.CheckpointDir ?? args[0], volumeFile = demo?.ReferenceVolumePath ?? args[1], question = demo?.Question ?? args[2];

using var model = await Med2E3Model.LoadAsync(checkpoint, new Med2E3LoadOptions { BertVocabPath = demo?.TextVocabPath });
using var volume = model.PreprocessVolume(VolumeSource.FromFile(volumeFile));   // cropped and resized to the checkpoint's size

Console.Write($"Q: {question}\nA: ");
GenerationResult? answer = null;
await foreach (var token in model.GenerateAsync(volume, question, model.GenerationOptions with { MaxNewTokens = demo?.MaxNewTokens }))
{
    Console.Write(string.Concat(token.TextDelta.Select(c => char.IsControl(c) && c != '\n' ? '\uFFFD' : c)));
    answer = token.Result;                                                          // the whole answer, on the last token
}
Console.WriteLine($"\n{answer!.TokenIds.Length} tokens ({answer.StopReason}) in {answer.Timings.Total.TotalSeconds:0.00} s");
for (int s = 0; s < answer.SliceScores.Length; s++)
    Console.WriteLine($"slice {s,2}  {answer.SliceScores[s]:0.000}  {new string('#', (int)Math.Round(answer.SliceScores[s] * 100))}");
if (demo is not null)
    Console.WriteLine(answer.TokenIds.SequenceEqual(demo.ReferenceTokenIds) ? "token ids match the PyTorch reference" : "token ids DIFFER from the PyTorch reference");
