using System.Reflection;

namespace Med2E3.Native.Runtime;

/// <summary>
/// The kernel sources embedded in this assembly from the repository's <c>kernels/</c> folder: every <c>*.cu</c>
/// file, the shared header <c>common.cuh</c>, and <c>nvrtc_flags.txt</c>, the one list of compile flags.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "kernels/";
    private static readonly Assembly Self = typeof(KernelSources).Assembly;
    private static readonly Lazy<IReadOnlyList<string>> FileList = new(() =>
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".cu", StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToArray());

    private static readonly Lazy<IReadOnlyDictionary<string, string>> HeaderMap = new(() =>
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".cuh", StringComparison.Ordinal))
            .ToDictionary(n => n[Prefix.Length..], ReadResource, StringComparer.Ordinal));

    private static readonly Lazy<IReadOnlyList<string>> FlagList = new(() => ParseFlags(ReadResource(Prefix + "nvrtc_flags.txt")));

    /// <summary>Names of the embedded kernel files, e.g. "elementwise.cu", sorted.</summary>
    public static IReadOnlyList<string> Files => FileList.Value;

    /// <summary>Embedded headers by include name, e.g. "common.cuh".</summary>
    public static IReadOnlyDictionary<string, string> Headers => HeaderMap.Value;

    /// <summary>The compile flags from <c>kernels/nvrtc_flags.txt</c>, without the target architecture.</summary>
    public static IReadOnlyList<string> Flags => FlagList.Value;

    /// <summary>The text of one kernel file.</summary>
    /// <param name="fileName">"elementwise.cu" or "elementwise".</param>
    public static string Read(string fileName)
    {
        string name = NormaliseFileName(fileName);
        if (!Files.Contains(name))
        {
            throw new FileNotFoundException(
                $"kernels/{name}: no such embedded kernel file; available: {string.Join(", ", Files)}", name);
        }

        return ReadResource(Prefix + name);
    }

    /// <summary>"elementwise" → "elementwise.cu"; names that already end in ".cu" are returned unchanged.</summary>
    /// <param name="fileName">A kernel file name with or without extension.</param>
    public static string NormaliseFileName(string fileName) =>
        fileName.EndsWith(".cu", StringComparison.Ordinal) ? fileName : fileName + ".cu";

    /// <summary>
    /// Parses a flags file: whitespace-separated flags, <c>#</c> starts a comment that runs to the end of the line.
    /// </summary>
    /// <param name="text">The file text.</param>
    public static IReadOnlyList<string> ParseFlags(string text)
    {
        var flags = new List<string>();
        foreach (string rawLine in text.Split('\n'))
        {
            int hash = rawLine.IndexOf('#');
            string line = hash >= 0 ? rawLine[..hash] : rawLine;
            flags.AddRange(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        }

        return flags;
    }

    private static string ReadResource(string name)
    {
        using Stream stream = Self.GetManifestResourceStream(name)
            ?? throw new FileNotFoundException($"{name}: missing embedded resource", name);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}
