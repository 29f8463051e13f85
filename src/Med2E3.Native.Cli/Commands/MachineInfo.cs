using System.Globalization;
using System.Runtime.InteropServices;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// The machine a timing was taken on, printed with every <c>med2e3 bench</c> result so a figure names its machine:
/// the CPU model (Linux: <c>/proc/cpuinfo</c>), logical cores, architecture and the 1/5/15-minute load averages
/// (Linux: <c>/proc/loadavg</c>) when the runs started; a shared machine's load says how far to trust a figure.
/// </summary>
/// <param name="Cpu">CPU model name, or the architecture where the OS does not say.</param>
/// <param name="LogicalCores">Environment.ProcessorCount.</param>
/// <param name="Architecture">Process architecture (X64, Arm64, …).</param>
/// <param name="LoadAverage">1, 5 and 15-minute load averages; null where the OS does not report them.</param>
public sealed record MachineInfo(string Cpu, int LogicalCores, string Architecture, double[]? LoadAverage)
{
    /// <summary>This machine, now.</summary>
    public static MachineInfo Current()
    {
        string arch = RuntimeInformation.ProcessArchitecture.ToString();
        return new MachineInfo(ReadCpuModel() ?? arch, Environment.ProcessorCount, arch, ReadLoadAverage());
    }

    /// <summary>"AMD EPYC, 2 logical cores (X64); load average 1.20 0.90 0.75".</summary>
    public override string ToString() =>
        $"{Cpu}, {LogicalCores} logical cores ({Architecture})"
        + (LoadAverage is { Length: 3 } l ? FormattableString.Invariant($"; load average {l[0]:0.00} {l[1]:0.00} {l[2]:0.00}") : "");

    /// <summary>The "model name" of /proc/cpuinfo's first processor, or null.</summary>
    public static string? ReadCpuModel(string cpuinfo = "/proc/cpuinfo")
    {
        try
        {
            foreach (string line in File.ReadLines(cpuinfo))
            {
                int colon = line.IndexOf(':');
                if (colon > 0 && line[..colon].Trim() == "model name") return line[(colon + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>The three load averages of /proc/loadavg ("0.52 0.58 0.59 1/467 12345"), or null.</summary>
    public static double[]? ReadLoadAverage(string loadavg = "/proc/loadavg")
    {
        try
        {
            string[] parts = File.ReadAllText(loadavg).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = new double[3];
            for (int i = 0; i < 3; i++)
            {
                if (parts.Length <= i || !double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    return null;
            }

            return values;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
