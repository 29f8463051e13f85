using System.Diagnostics;
using System.Reflection;

namespace Med2E3.Native.Tests.Shared;

/// <summary>
/// Runs one test of this assembly in a fresh process, for tests whose subject is read once per process (the oneDNN
/// probe and its environment switches) or ends the life of a CUDA context (a kernel fault is sticky until the process
/// ends): the parent test starts the child with <see cref="Variable"/> set,
/// the child runs the same method and does the real work, and the parent checks that it passed.
/// </summary>
internal static class ChildProcess
{
    /// <summary>Set (to the test's name) in the child.</summary>
    public const string Variable = "MED2E3_TEST_CHILD";

    /// <summary>True when this process is the child started for <paramref name="test"/>.</summary>
    public static bool IsChildFor(string test) => Environment.GetEnvironmentVariable(Variable) == test;

    /// <summary>
    /// Runs the test method <paramref name="type"/>.<paramref name="method"/> in a child process and returns its exit
    /// code and output (stdout and stderr); <paramref name="environment"/> adds or removes (null) variables for the child.
    /// </summary>
    public static (int ExitCode, string Output) Run(Type type, string method, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        string test = $"{type.FullName}.{method}";
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet test` the host is the apphost of this assembly, or `dotnet` with the assembly as argument.
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(Assembly.GetExecutingAssembly().Location);
        }

        foreach (string a in new[] { "-method", test, "-noColor", "-noLogo", "-parallel", "none" })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment[Variable] = test;
        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {host}");
        Task<string> stdout = child.StandardOutput.ReadToEndAsync();
        Task<string> stderr = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(timeout))
        {
            child.Kill(entireProcessTree: true);
            return (-1, $"the child did not finish in {timeout.TotalSeconds} s\n{stdout.Result}\n{stderr.Result}");
        }

        child.WaitForExit();
        return (child.ExitCode, stdout.Result + stderr.Result);
    }
}
