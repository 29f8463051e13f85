using System.Diagnostics;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// A small tmpfs mounted on a fresh temporary folder, to run commands against a disk that fills up. Mounting needs
/// root (as in CI); where it is not allowed the test is skipped with the reason (the same cases also run against
/// <c>/dev/full</c> and injected failures in-process, which need nothing).
/// </summary>
internal sealed class SmallDisk : IDisposable
{
    SmallDisk(string path) => Path = path;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public static SmallDisk Mount(int kilobytes)
    {
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "med2e3-disk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k", "tmpfs", dir);
        if (code != 0)
        {
            Directory.Delete(dir);
            Assert.Skip($"cannot mount a {kilobytes} KiB tmpfs for a full-disk test (needs root): {output.Trim()}");
        }
        return new SmallDisk(dir);
    }

    /// <summary>Fills the disk: a file grows until the disk refuses more.</summary>
    public void Fill()
    {
        using var f = new FileStream(File(".filler"), FileMode.Create, FileAccess.Write);
        var block = new byte[4096];
        try
        {
            while (true) f.Write(block);
        }
        catch (IOException)
        {
        }
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }

    static (int Code, string Output) Run(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in args) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
