using Med2E3.Native.Models.Golden;

namespace Med2E3.Native.Tests.Model;

/// <summary>Locates the tiny golden fixture and runs the golden check on it once per test run.</summary>
public static class ModelFixture
{
    private static readonly Lazy<string> RootDir = new(() =>
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "data", "med2e3-tiny");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/data/med2e3-tiny not found above " + AppContext.BaseDirectory);
    });

    private static readonly Lazy<GoldenReport> CpuReport = new(() => GoldenCheck.Run(Fixture, "cpu"));

    public static string Fixture => RootDir.Value;

    public static string Checkpoint => Path.Combine(Fixture, "checkpoint");

    public static string BertVocab => Path.Combine(Fixture, "text_tokenizer", "vocab.txt");

    /// <summary>The golden check on the CPU (fp32), computed on first use.</summary>
    public static GoldenReport Report => CpuReport.Value;
}
