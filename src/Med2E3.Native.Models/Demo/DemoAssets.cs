using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;

namespace Med2E3.Native.Models.Demo;

/// <summary>Paths of the unpacked demo: a complete checkpoint folder, the BERT vocabulary and one volume.</summary>
/// <param name="Root">The folder everything was unpacked into.</param>
/// <param name="CheckpointDir">Checkpoint folder in the Med-2E3 release layout (tiny dimensions, random weights).</param>
/// <param name="TextVocabPath">WordPiece vocabulary of the BERT question encoder (TG-IS).</param>
/// <param name="VolumePath">The demo volume: the synthetic CT phantom (<see cref="Input.Phantom"/>), int16 Hounsfield
/// units, NIfTI-1 gzip, 32 × 64 × 64.</param>
/// <param name="Window">The intensity window the demo reads its volume with (the abdominal soft-tissue window).</param>
/// <param name="Question">The default question.</param>
/// <param name="MaxNewTokens">How many tokens the demo generates.</param>
/// <param name="ReferenceVolumePath">The PyTorch reference run's input, .npy float32 (1, 8, 32, 32) in (0, 1].</param>
/// <param name="ReferenceTokenIds">The greedy ids the PyTorch reference produced for that volume and the question.</param>
public sealed record DemoFiles(
    string Root, string CheckpointDir, string TextVocabPath, string VolumePath, (float Lower, float Upper) Window,
    string Question, int MaxNewTokens, string ReferenceVolumePath, int[] ReferenceTokenIds);

/// <summary>
/// The demo that ships inside this assembly (<c>Demo/assets/**</c>, embedded resources): the tiny Med-2E3 of the
/// golden fixture (random weights, the release checkpoint layout), the CT phantom it runs on, and the reference run's
/// input volume. <see cref="Extract"/> writes
/// them to a cache folder once, so <c>med2e3 generate --demo</c> works from the built tool alone.
/// </summary>
public static class DemoAssets
{
    const string Prefix = "Med2E3.Demo/";

    /// <summary>Names of the embedded files, relative to the demo root, with '/' separators.</summary>
    public static IReadOnlyList<string> Files =>
        [.. Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..].Replace('\\', '/'))
            .Order(StringComparer.Ordinal)];

    static Assembly Assembly => typeof(DemoAssets).Assembly;

    /// <summary>Opens one embedded demo file, e.g. <c>"checkpoint/llm/config.json"</c>.</summary>
    public static Stream Open(string relativePath)
    {
        string? name = Assembly.GetManifestResourceNames()
            .FirstOrDefault(n => n.StartsWith(Prefix, StringComparison.Ordinal)
                                 && n[Prefix.Length..].Replace('\\', '/') == relativePath);
        return name is null
            ? throw new FileNotFoundException($"embedded demo file {relativePath} is not in {Assembly.GetName().Name}")
            : Assembly.GetManifestResourceStream(name)!;
    }

    /// <summary>
    /// Unpacks the demo into <c>&lt;cacheRoot&gt;/med2e3-demo-&lt;content hash&gt;/</c> (default cache root: the
    /// temp folder) unless it is already there, and returns its paths. Safe to call from several processes at once.
    /// </summary>
    public static DemoFiles Extract(string? cacheRoot = null)
    {
        var files = Files;
        if (files.Count == 0)
            throw new InvalidOperationException($"{Assembly.GetName().Name} holds no embedded demo files");

        string root = Path.Combine(cacheRoot ?? Path.GetTempPath(), "med2e3-demo-" + ContentHash(files));
        string marker = Path.Combine(root, ".complete");
        if (!File.Exists(marker))
        {
            string staging = $"{root}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
            foreach (string file in files)
            {
                string target = Path.Combine(staging, file.Replace('/', Path.DirectorySeparatorChar));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using var source = Open(file);
                using var sink = File.Create(target);
                source.CopyTo(sink);
            }
            File.WriteAllText(Path.Combine(staging, ".complete"), "");
            try
            {
                Directory.Move(staging, root); // atomic: the folder appears complete or not at all
            }
            catch (IOException)
            {
                Directory.Delete(staging, recursive: true);
                if (!File.Exists(marker)) // not another process's finished copy, but a damaged leftover
                    throw new IOException($"{root}: incomplete demo folder from an earlier run; delete it and retry");
            }
        }

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "demo.json")));
        var m = manifest.RootElement;
        return new DemoFiles(
            Root: root,
            CheckpointDir: Path.Combine(root, m.GetProperty("checkpoint").GetString()!),
            TextVocabPath: Path.Combine(root, m.GetProperty("text_vocab").GetString()!),
            VolumePath: Path.Combine(root, m.GetProperty("volume").GetString()!),
            Window: (m.GetProperty("window")[0].GetSingle(), m.GetProperty("window")[1].GetSingle()),
            Question: m.GetProperty("question").GetString()!,
            MaxNewTokens: m.GetProperty("max_new_tokens").GetInt32(),
            ReferenceVolumePath: Path.Combine(root, m.GetProperty("reference_volume").GetString()!),
            ReferenceTokenIds: [.. m.GetProperty("reference_token_ids").EnumerateArray().Select(e => e.GetInt32())]);
    }

    /// <summary>First 12 hex digits of SHA-256 over every embedded file's name and bytes.</summary>
    static string ContentHash(IReadOnlyList<string> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string file in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(file + "\n"));
            using var stream = Open(file);
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            hash.AppendData(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..12];
    }
}
