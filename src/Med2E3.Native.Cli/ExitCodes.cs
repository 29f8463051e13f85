namespace Med2E3.Native.Cli;

/// <summary>
/// Process exit codes of <c>med2e3</c>. Every failure maps to exactly one of these, so scripts can branch on them;
/// the table is repeated in README.md ("Exit codes").
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;

    /// <summary>A check ran and found a mismatch (golden-check, kernels check).</summary>
    public const int CheckFailed = 1;

    /// <summary>The command line is wrong: unknown command or option, missing or invalid value.</summary>
    public const int Usage = 2;

    /// <summary>An input file (volume, data JSON) is missing, unreadable or malformed.</summary>
    public const int BadInput = 3;

    /// <summary>The checkpoint folder is missing, incomplete, or does not match its own configuration.</summary>
    public const int Checkpoint = 4;

    /// <summary>The requested device cannot be used (e.g. <c>--device cuda</c> on a machine without a GPU).</summary>
    public const int DeviceUnavailable = 5;

    /// <summary>An output (<c>--out</c>, <c>--explain</c>, stdout) could not be written; what was there before is kept.</summary>
    public const int OutputFailed = 6;

    /// <summary>This build lacks a component the command needs; the message names it.</summary>
    public const int NotAvailable = 7;

    /// <summary>An unexpected internal error (a bug); rerun with <c>--verbose</c> for the stack trace.</summary>
    public const int Internal = 70;

    /// <summary>Stopped by Ctrl+C (SIGINT) at a safe point; <c>finetune</c> says where its last complete checkpoint is.</summary>
    public const int Interrupted = 130;
}
