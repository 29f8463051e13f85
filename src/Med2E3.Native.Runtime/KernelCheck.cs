using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Compiles every kernel file with NVRTC for each requested architecture into CUBIN with <c>--ptxas-options=-v</c>
/// and reads the per-kernel resource report from the NVRTC log. Needs only the NVRTC library, no driver or GPU.
/// A run fails on a compile error or on any spill in a default variant.
/// </summary>
public static partial class KernelCheck
{
    /// <summary>Architectures checked when none are given.</summary>
    public static IReadOnlyList<string> DefaultArchs { get; } = ["sm_80", "sm_90"];

    /// <summary>
    /// Validates <paramref name="archs"/> against this NVRTC, then compiles each file for each architecture.
    /// Throws <see cref="CudaUnavailableException"/> when there is no NVRTC and <see cref="ArgumentException"/> for
    /// an unknown or unsupported architecture; compile errors are reported in the result.
    /// </summary>
    /// <param name="archs">Architectures such as "sm_80"; null or empty means <see cref="DefaultArchs"/>.</param>
    /// <param name="files">Kernel files; null means every embedded <c>kernels/*.cu</c>.</param>
    public static KernelCheckReport Run(IEnumerable<string>? archs = null, IEnumerable<string>? files = null)
    {
        NvrtcRuntime.EnsureAvailable();
        List<string> targets = (archs ?? []).Select(a => a.Trim()).Where(a => a.Length > 0).ToList();
        if (targets.Count == 0)
        {
            targets = [.. DefaultArchs];
        }

        foreach (string arch in targets)
        {
            ValidateArch(arch);
        }

        var rows = new List<KernelResourceUsage>();
        var failures = new List<KernelCheckFailure>();
        var timings = new List<KernelCompileTiming>();
        foreach (string file in (files ?? KernelSources.Files).Select(KernelSources.NormaliseFileName))
        {
            KernelHeader header = KernelHeader.Parse(file, KernelSources.Read(file));
            foreach (string arch in targets)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    KernelBinary binary = KernelCompiler.Compile(file, arch, ["--ptxas-options=-v"], useDiskCache: false);
                    timings.Add(new KernelCompileTiming(file, arch, clock.Elapsed));
                    rows.AddRange(ParsePtxasLog(file, arch, binary.Log, header.IsDefault));
                }
                catch (KernelCompileException e)
                {
                    failures.Add(new KernelCheckFailure(file, arch, e.Message));
                }
            }
        }

        return new KernelCheckReport(targets, rows, failures, timings);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when <paramref name="arch"/> is not of the form <c>sm_XX</c> or this NVRTC
    /// cannot produce machine code for it.
    /// </summary>
    /// <param name="arch">An architecture such as "sm_90".</param>
    public static void ValidateArch(string arch)
    {
        if (!arch.StartsWith("sm_", StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"unknown architecture '{arch}': expected sm_<major><minor>, e.g. sm_80 or sm_90", nameof(arch));
        }

        int number = KernelCompiler.ParseArch(arch);
        IReadOnlyList<int> supported = NvrtcRuntime.SupportedArchs;
        if (supported.Count > 0 && !supported.Contains(number))
        {
            throw new ArgumentException(
                $"architecture {arch} is not supported by NVRTC {NvrtcRuntime.Version} ({NvrtcRuntime.LibraryPath}); " +
                $"it can target {string.Join(", ", supported.Select(a => "sm_" + a))}", nameof(arch));
        }
    }

    /// <summary>
    /// Reads ptxas's verbose report (from the NVRTC log) into one row per kernel: registers, static shared memory,
    /// stack frame and spill bytes.
    /// </summary>
    /// <param name="file">Kernel file, for the rows.</param>
    /// <param name="arch">Architecture, for the rows.</param>
    /// <param name="log">The NVRTC log.</param>
    /// <param name="isDefault">Tells whether a kernel is a default variant.</param>
    public static IReadOnlyList<KernelResourceUsage> ParsePtxasLog(
        string file, string arch, string log, Func<string, bool> isDefault)
    {
        var rows = new List<KernelResourceUsage>();
        string? kernel = null;
        int stack = 0;
        int spillStores = 0;
        int spillLoads = 0;
        foreach (string line in log.Split('\n'))
        {
            Match entry = EntryLine().Match(line);
            if (entry.Success)
            {
                kernel = entry.Groups["name"].Value;
                stack = spillStores = spillLoads = 0;
                continue;
            }

            Match frame = FrameLine().Match(line);
            if (frame.Success && kernel is not null)
            {
                stack = Int(frame, "stack");
                spillStores = Int(frame, "stores");
                spillLoads = Int(frame, "loads");
                continue;
            }

            Match used = UsedLine().Match(line);
            if (used.Success && kernel is not null)
            {
                int smem = used.Groups["smem"].Success ? Int(used, "smem") : 0;
                rows.Add(new KernelResourceUsage(
                    file, kernel, arch, Int(used, "regs"), smem, stack, spillStores, spillLoads, isDefault(kernel)));
                kernel = null;
            }
        }

        return rows;
    }

    private static int Int(Match m, string group) =>
        int.Parse(m.Groups[group].Value, NumberStyles.Integer, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Compiling entry function '(?<name>[^']+)' for '(?<arch>[^']+)'")]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"(?<stack>\d+) bytes stack frame, (?<stores>\d+) bytes spill stores, (?<loads>\d+) bytes spill loads")]
    private static partial Regex FrameLine();

    [GeneratedRegex(@"Used (?<regs>\d+) registers(?:, (?:used \d+ barriers, )?(?:(?<smem>\d+) bytes smem)?)?")]
    private static partial Regex UsedLine();
}

/// <summary>Resources of one kernel for one architecture, from ptxas.</summary>
/// <param name="File">Kernel file.</param>
/// <param name="Kernel">Kernel name.</param>
/// <param name="Arch">Architecture.</param>
/// <param name="Registers">Registers per thread.</param>
/// <param name="SharedBytes">Static shared memory per block.</param>
/// <param name="StackBytes">Stack frame per thread.</param>
/// <param name="SpillStoreBytes">Bytes spilled to local memory (stores).</param>
/// <param name="SpillLoadBytes">Bytes reloaded from spills.</param>
/// <param name="IsDefault">True for a default variant (a spill here fails the check).</param>
public sealed record KernelResourceUsage(
    string File, string Kernel, string Arch, int Registers, int SharedBytes, int StackBytes,
    int SpillStoreBytes, int SpillLoadBytes, bool IsDefault)
{
    /// <summary>True when ptxas spilled registers.</summary>
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;
}

/// <summary>A kernel file that failed to compile for an architecture.</summary>
/// <param name="File">Kernel file.</param>
/// <param name="Arch">Architecture.</param>
/// <param name="Message">The compile error with the full NVRTC log.</param>
public sealed record KernelCheckFailure(string File, string Arch, string Message);

/// <summary>How long one file took to compile for one architecture.</summary>
/// <param name="File">Kernel file.</param>
/// <param name="Arch">Architecture.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record KernelCompileTiming(string File, string Arch, TimeSpan Elapsed);

/// <summary>The result of <see cref="KernelCheck.Run"/>.</summary>
/// <param name="Archs">Architectures checked.</param>
/// <param name="Rows">One row per kernel and architecture.</param>
/// <param name="Failures">Compile errors.</param>
/// <param name="Timings">Compile time per file and architecture.</param>
public sealed record KernelCheckReport(
    IReadOnlyList<string> Archs,
    IReadOnlyList<KernelResourceUsage> Rows,
    IReadOnlyList<KernelCheckFailure> Failures,
    IReadOnlyList<KernelCompileTiming> Timings)
{
    /// <summary>Default variants that spill registers.</summary>
    public IEnumerable<KernelResourceUsage> SpillingDefaults => Rows.Where(r => r.IsDefault && r.Spills);

    /// <summary>True when everything compiled and no default variant spills.</summary>
    public bool Passed => Failures.Count == 0 && !SpillingDefaults.Any();
}
