using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench tokenizer [--model DIR] [--repeats R] [--json FILE]: times encoding with the 32,000-piece test
/// model (tests/data/tokenizer/phi3-32k) on a long radiology report and on runs of one character, ours
/// (<see cref="Phi3Tokenizer.EncodeSentencePiece"/>, SentencePiece's merge loop) against the anchor measured in the
/// same run, Microsoft.ML.Tokenizers 2.0.1's LlamaTokenizer on the same normalized text (the merge loop used
/// before). The two alternate run by run; median of R runs after one warm-up; the last column counts the ids where
/// the two differ.
/// </summary>
public static class TokenizerBenchmark
{
    private const string Report =
        "CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST.\nCLINICAL HISTORY: Cough, weight loss.\nFINDINGS:\n" +
        "LLL: 2.3 cm spiculated nodule (series 4, image 112), previously 1.8 cm.\n" +
        "RUL: scattered ground-glass opacities, unchanged.  Small left pleural effusion.\n" +
        "    Liver: hypodense lesion in segment VII, 14 mm, -12 HU; no biliary dilatation.\n" +
        "    Kidneys: simple cyst, left lower pole (Bosniak I).\n" +
        "IMPRESSION:\n1. Enlarging LLL nodule -- suspicious for malignancy; PET-CT advised.\n" +
        "2. Hepatic lesion, likely cyst.\n----------------------------------------\n";

    public static int Run(string[] args)
    {
        string? dir = null;
        string? json = null;
        int repeats = 15;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--model") dir = args[++i];
            else if (args[i] == "--repeats") repeats = int.Parse(args[++i]);
            else if (args[i] == "--json") json = args[++i];
            else
            {
                Console.Error.WriteLine($"tokenizer: unknown option {args[i]}");
                return 2;
            }
        }

        dir ??= FindModelDir();
        if (dir is null || !File.Exists(Path.Combine(dir, "tokenizer.model")))
        {
            Console.Error.WriteLine("tokenizer: tests/data/tokenizer/phi3-32k not found; pass --model DIR");
            return 2;
        }

        var ours = Phi3Tokenizer.Load(dir);
        using var stream = File.OpenRead(Path.Combine(dir, "tokenizer.model"));
        var library = Microsoft.ML.Tokenizers.LlamaTokenizer.Create(stream, addBeginOfSentence: false,
            addEndOfSentence: false);
        int[] Library(string text) =>
        [
            .. library.EncodeToIds("\u2581" + text.Replace(' ', '\u2581'), addBeginningOfSentence: false,
                addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false),
        ];

        var inputs = new (string Name, string Text)[]
        {
            ("report 1x (" + Report.Length + " chars)", Report),
            ("report 20x", Repeat(Report, 20)),
            ("report 200x", Repeat(Report, 200)),
            ("'a' x 10000", new string('a', 10000)),
            ("' ' x 10000", new string(' ', 10000)),
        };
        Console.WriteLine($"tokenizer: 32,000-piece BPE ({dir}), {Environment.ProcessorCount} CPUs, median of {repeats} runs");
        Console.WriteLine($"{"input",-28} {"chars",8} {"ours ms",10} {"library ms",11} {"library/ours",13} {"ids",7} {"differ",7}");
        var rows = new List<object>();
        foreach (var (name, text) in inputs)
        {
            int[] a = ours.EncodeSentencePiece(text);
            int[] b = Library(text);
            int differ = a.Length == b.Length ? a.Zip(b).Count(p => p.First != p.Second) : Math.Max(a.Length, b.Length);
            var (oursMs, libraryMs) = TimeBoth(() => ours.EncodeSentencePiece(text), () => Library(text), repeats);
            Console.WriteLine($"{name,-28} {text.Length,8} {oursMs,10:F3} {libraryMs,11:F3} {libraryMs / oursMs,13:F2} {a.Length,7} {differ,7}");
            rows.Add(new { input = name, chars = text.Length, ours_ms = oursMs, library_ms = libraryMs, ids = a.Length, differ });
        }

        if (json is not null)
        {
            File.WriteAllText(json, JsonSerializer.Serialize(new { model = dir, repeats, rows }));
            Console.WriteLine($"wrote {json}");
        }

        return 0;
    }

    private static string Repeat(string s, int n) => new StringBuilder(s.Length * n).Insert(0, s, n).ToString();

    // The two alternate run by run, so that load from other processes falls on both alike.
    private static (double A, double B) TimeBoth(Action a, Action b, int repeats)
    {
        a();
        b();
        var msA = new double[repeats];
        var msB = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a();
            msA[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            b();
            msB[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }

        return (Bench.Median(msA), Bench.Median(msB));
    }

    private static string? FindModelDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "data", "tokenizer", "phi3-32k");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
