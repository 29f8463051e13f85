using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// The built <c>med2e3</c> run as a separate process, for what cannot be tested in-process: signals (Ctrl+C, a
/// kill), and stdout redirected to a full device or closed. stdout is read line by line as it arrives.
/// </summary>
internal sealed partial class CliProcess : IDisposable
{
    readonly Process process;
    readonly BlockingCollection<string> lines = new();
    readonly StringBuilder err = new();

    CliProcess(Process process, bool readStdout)
    {
        this.process = process;
        if (readStdout)
        {
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) lines.CompleteAdding();
                else lines.Add(e.Data);
            };
            process.BeginOutputReadLine();
        }
        else
        {
            lines.CompleteAdding();
        }
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (err) err.AppendLine(e.Data);
        };
        process.BeginErrorReadLine();
    }

    /// <summary>The apphost next to the test assembly (the CLI project is referenced, so it is built and copied).</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "med2e3");

    public int Id => process.Id;

    /// <summary>Starts <c>med2e3 args</c>; with <paramref name="shellRedirect"/> it runs under /bin/sh with that redirection of stdout (e.g. "&gt;/dev/full").</summary>
    public static CliProcess Start(IReadOnlyList<string> args, string? shellRedirect = null)
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = shellRedirect is null,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (shellRedirect is null)
        {
            info.FileName = Executable;
            foreach (string a in args) info.ArgumentList.Add(a);
        }
        else
        {
            info.FileName = "/bin/sh";
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"exec \"$0\" \"$@\" {shellRedirect}");
            info.ArgumentList.Add(Executable);
            foreach (string a in args) info.ArgumentList.Add(a);
        }
        var p = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + Executable);
        return new CliProcess(p, readStdout: shellRedirect is null);
    }

    /// <summary>The next stdout line, or null when stdout ended or <paramref name="timeout"/> passed.</summary>
    public string? ReadLine(TimeSpan timeout) => lines.TryTake(out string? line, timeout) ? line : null;

    /// <summary>Reads stdout lines until one satisfies <paramref name="match"/>; null when none does in time.</summary>
    public string? ReadUntil(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            string? line = ReadLine(timeout - clock.Elapsed);
            if (line is null) return null;
            if (match(line)) return line;
        }
        return null;
    }

    /// <summary>The stdout lines still to come, until the process closes stdout.</summary>
    public List<string> RemainingLines(TimeSpan timeout)
    {
        var rest = new List<string>();
        while (ReadLine(timeout) is { } line) rest.Add(line);
        return rest;
    }

    public string Err
    {
        get
        {
            lock (err) return err.ToString();
        }
    }

    /// <summary>stderr's non-empty lines.</summary>
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public const int SigInt = 2, SigKill = 9;

    public void Signal(int signal)
    {
        if (kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for the exit and returns the exit code (128 + signal for a signal, as a shell reports it).</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"med2e3 did not exit within {timeout.TotalSeconds} s; stderr:\n{Err}");
        }
        process.WaitForExit();                                  // drains the redirected streams
        return process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
        lines.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
