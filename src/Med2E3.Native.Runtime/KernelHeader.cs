using System.Text.RegularExpressions;

namespace Med2E3.Native.Runtime;

/// <summary>
/// The required header of a kernel file (STYLE §2): a title line <c>// file.cu — what it does.</c>, then the fields
/// defines, math, shapes, launch, floor, variants, ref and verify, in that order. A field may continue on following
/// comment lines. <see cref="Problems"/> lists everything the lint rejects.
/// </summary>
public sealed partial class KernelHeader
{
    /// <summary>The header fields, in their required order.</summary>
    public static IReadOnlyList<string> RequiredFields { get; } =
        ["defines", "math", "shapes", "launch", "floor", "variants", "ref", "verify"];

    private KernelHeader(
        string fileName,
        string title,
        IReadOnlyDictionary<string, string> fields,
        IReadOnlyList<string> defines,
        IReadOnlySet<string> markedDefault,
        IReadOnlyList<string> globals,
        IReadOnlyList<string> problems)
    {
        FileName = fileName;
        Title = title;
        Fields = fields;
        Defines = defines;
        MarkedDefault = markedDefault;
        GlobalFunctions = globals;
        Problems = problems;
    }

    /// <summary>The kernel file name.</summary>
    public string FileName { get; }

    /// <summary>The first line without the comment marker.</summary>
    public string Title { get; }

    /// <summary>Field name → text (continuation lines joined with newlines).</summary>
    public IReadOnlyDictionary<string, string> Fields { get; }

    /// <summary>The kernel names listed in <c>defines:</c>, in order.</summary>
    public IReadOnlyList<string> Defines { get; }

    /// <summary>Names marked <c>(default)</c> in <c>defines:</c>.</summary>
    public IReadOnlySet<string> MarkedDefault { get; }

    /// <summary>The <c>__global__</c> functions declared in the file body.</summary>
    public IReadOnlyList<string> GlobalFunctions { get; }

    /// <summary>Lint findings; empty when the header is complete and matches the body.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>
    /// True when <paramref name="kernel"/> is what the registry launches: marked <c>(default)</c>; else, when no kernel
    /// of its family (the name without a <c>_v&lt;N&gt;</c> suffix, and its suffixed variants) is marked, the
    /// family's unsuffixed kernel, or the only kernel of its family.
    /// </summary>
    /// <param name="kernel">A kernel name.</param>
    public bool IsDefault(string kernel)
    {
        if (MarkedDefault.Contains(kernel))
        {
            return true;
        }

        string family = Family(kernel);
        string[] members = Defines.Where(d => Family(d) == family).ToArray();
        if (members.Any(MarkedDefault.Contains))
        {
            return false;
        }

        return kernel == family || (!members.Contains(family) && members.Length <= 1);
    }

    private static string Family(string kernel) =>
        VariantSuffix().Match(kernel) is { Success: true } m ? kernel[..m.Index] : kernel;

    /// <summary>Parses and lints the header of <paramref name="source"/>.</summary>
    /// <param name="fileName">The file name, e.g. "elementwise.cu" (the title must start with it).</param>
    /// <param name="source">The file text.</param>
    public static KernelHeader Parse(string fileName, string source)
    {
        var problems = new List<string>();
        string[] lines = source.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        string title = lines.Length > 0 && lines[0].StartsWith("//", StringComparison.Ordinal) ? lines[0][2..].Trim() : string.Empty;
        if (!title.StartsWith(fileName + " — ", StringComparison.Ordinal))
        {
            problems.Add($"{fileName}: the first line must be '// {fileName} — <what it does>'");
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        string? current = null;
        for (int i = 1; i < lines.Length && lines[i].StartsWith("//", StringComparison.Ordinal); i++)
        {
            string body = lines[i][2..];
            Match field = FieldLine().Match(body);
            if (field.Success && RequiredFields.Contains(field.Groups["name"].Value))
            {
                current = field.Groups["name"].Value;
                if (fields.ContainsKey(current))
                {
                    problems.Add($"{fileName}: field '{current}:' appears twice");
                }

                order.Add(current);
                fields[current] = field.Groups["text"].Value.Trim();
            }
            else if (current is not null && body.Trim().Length > 0)
            {
                fields[current] += "\n" + body.Trim();
            }
        }

        foreach (string required in RequiredFields)
        {
            if (!fields.TryGetValue(required, out string? text))
            {
                problems.Add($"{fileName}: header field '{required}:' is missing");
            }
            else if (text.Trim().Length == 0)
            {
                problems.Add($"{fileName}: header field '{required}:' is empty");
            }
        }

        List<string> present = RequiredFields.Where(order.Contains).ToList();
        List<string> seen = order.Distinct().ToList();
        if (!present.SequenceEqual(seen))
        {
            problems.Add($"{fileName}: header fields must come in the order {string.Join(", ", RequiredFields)}");
        }

        var defines = new List<string>();
        var marked = new HashSet<string>(StringComparer.Ordinal);
        if (fields.TryGetValue("defines", out string? definesText))
        {
            foreach (string item in definesText.Split([',', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Match m = DefineItem().Match(item);
                if (!m.Success)
                {
                    problems.Add($"{fileName}: cannot read '{item}' in defines: (expected name or 'name (default)')");
                    continue;
                }

                string name = m.Groups["name"].Value;
                defines.Add(name);
                if (m.Groups["default"].Success)
                {
                    marked.Add(name);
                }
            }
        }

        var globals = new List<string>();
        foreach (Match m in GlobalDeclaration().Matches(source))
        {
            string name = m.Groups["name"].Value;
            globals.Add(name);
            if (!m.Groups["externc"].Success)
            {
                problems.Add($"{fileName}: __global__ {name} must be declared extern \"C\"");
            }
        }

        foreach (string name in defines.Where(d => !globals.Contains(d)))
        {
            problems.Add($"{fileName}: defines: lists {name}, but there is no extern \"C\" __global__ {name}");
        }

        foreach (string name in globals.Where(g => !defines.Contains(g)))
        {
            problems.Add($"{fileName}: extern \"C\" __global__ {name} is not listed in defines:");
        }

        var header = new KernelHeader(fileName, title, fields, defines, marked, globals, problems);
        foreach (IGrouping<string, string> family in defines.GroupBy(Family))
        {
            int defaults = family.Count(header.IsDefault);
            if (family.Count() > 1 && defaults != 1)
            {
                problems.Add(
                    $"{fileName}: variants of {family.Key} ({string.Join(", ", family)}) must mark exactly one (default)");
            }
        }

        return header;
    }

    [GeneratedRegex(@"^\s(?<name>[a-z]+):\s*(?<text>.*)$")]
    private static partial Regex FieldLine();

    [GeneratedRegex(@"^(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?<default>\(default\))?$")]
    private static partial Regex DefineItem();

    [GeneratedRegex(@"_v[0-9]+$")]
    private static partial Regex VariantSuffix();

    // `extern "C" __global__ void __launch_bounds__(256) name(` with the launch bounds optional and anywhere
    // between __global__ and the name.
    [GeneratedRegex(
        @"(?<externc>extern\s+""C""\s+)?__global__\s+(?:void\s+)?(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:void\s+)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*\(")]
    private static partial Regex GlobalDeclaration();
}
