using System.CommandLine;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 kernels check [--arch sm_80,sm_90]</c>: compiles every <c>kernels/*.cu</c> with NVRTC for each
/// architecture (no GPU needed), prints registers, shared memory and spills per kernel, and exits with 1 on a compile
/// error or a spill in a default variant.
/// </summary>
public static class KernelsCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch")
        {
            Description = "Comma-separated architectures to compile for (default: sm_80,sm_90)",
            HelpName = "ARCHS",
        };
        var file = new Option<string[]>("--file")
        {
            Description = "Check only these kernel files (e.g. elementwise.cu); default: all",
            HelpName = "FILE",
            AllowMultipleArgumentsPerToken = true,
        };
        var check = new Command("check", "Compile every kernels/*.cu with NVRTC (no GPU needed) and report registers, shared memory and spills")
        {
            arch, file,
        };
        check.SetAction(int (ParseResult parse) => RunCheck(
            parse.GetValue(arch), parse.GetValue(file), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return new Command("kernels", "CUDA kernel tools") { check };
    }

    public static int RunCheck(string? archs, string[]? files, TextWriter stdout, TextWriter stderr)
    {
        if (!NvrtcRuntime.IsAvailable)
        {
            throw CliException.NotAvailable(
                $"kernels check needs the NVRTC library: {NvrtcRuntime.UnavailableReason}; install libnvrtc (CUDA 11.8 or newer) "
                + "or point MED2E3_CUDA_LIB_DIR at its folder");
        }

        string[] archList = (archs ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (files is { Length: > 0 })
        {
            foreach (string f in files)
            {
                if (!KernelSources.Files.Contains(KernelSources.NormaliseFileName(f)))
                    throw CliException.Usage($"--file: kernels/{KernelSources.NormaliseFileName(f)} does not exist; available: {string.Join(", ", KernelSources.Files)}");
            }
        }

        KernelCheckReport report;
        try
        {
            report = KernelCheck.Run(archList, files is { Length: > 0 } ? files : null);
        }
        catch (ArgumentException e)
        {
            throw CliException.Usage($"--arch: {e.Message.Split(" (Parameter", 2)[0]}");
        }

        stdout.WriteLine($"NVRTC {NvrtcRuntime.Version} ({NvrtcRuntime.LibraryPath}); archs {string.Join(", ", report.Archs)}");
        stdout.WriteLine();
        stdout.WriteLine("| file | kernel | arch | registers | smem B | stack B | spill stores B | spill loads B | default |");
        stdout.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---|");
        foreach (KernelResourceUsage row in report.Rows.OrderBy(r => r.File).ThenBy(r => r.Kernel, StringComparer.Ordinal).ThenBy(r => r.Arch))
        {
            string flag = row.IsDefault ? (row.Spills ? "yes — SPILLS" : "yes") : "";
            stdout.WriteLine($"| {row.File} | {row.Kernel} | {row.Arch} | {row.Registers} | {row.SharedBytes} | {row.StackBytes} | "
                + $"{row.SpillStoreBytes} | {row.SpillLoadBytes} | {flag} |");
        }

        stdout.WriteLine();
        foreach (KernelCompileTiming t in report.Timings)
            stdout.WriteLine($"compiled {t.File} for {t.Arch} in {t.Elapsed.TotalMilliseconds:F0} ms");

        foreach (KernelCheckFailure failure in report.Failures)
            stderr.WriteLine($"med2e3: compile error in kernels/{failure.File} for {failure.Arch}:\n{failure.Message}");

        foreach (KernelResourceUsage spill in report.SpillingDefaults)
            stderr.WriteLine($"med2e3: default variant {spill.Kernel} (kernels/{spill.File}) spills on {spill.Arch}: "
                + $"{spill.SpillStoreBytes} B stores, {spill.SpillLoadBytes} B loads");

        bool passed = report.Passed;
        stdout.WriteLine(passed
            ? $"kernels check passed: {report.Rows.Count} kernels × arch, {report.Timings.Count} compiles"
            : $"kernels check FAILED: {report.Failures.Count} compile errors, {report.SpillingDefaults.Count()} spilling defaults");
        return passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
