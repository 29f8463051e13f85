namespace Med2E3.Native.Tests.Weights;

/// <summary>Locates <c>tests/data/med2e3-tiny</c> from the test binary's folder.</summary>
internal static class FixturePaths
{
    private static readonly Lazy<string> RootDir = new(() =>
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "data", "med2e3-tiny");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException("tests/data/med2e3-tiny not found above " + AppContext.BaseDirectory);
    });

    public static string Fixture => RootDir.Value;

    public static string Checkpoint => Path.Combine(Fixture, "checkpoint");

    public static string Golden => Path.Combine(Fixture, "golden.safetensors");

    public static string Component(string dir) => Path.Combine(Checkpoint, dir, "pytorch_model.bin");
}

/// <summary>A temporary folder deleted at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "med2e3-weights-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
