using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Models.Weights;

/// <summary>The weights do not match what the configs describe (missing keys, shape mismatches, …).</summary>
public sealed class CheckpointMismatchException : CheckpointFormatException
{
    public CheckpointMismatchException(string filePath, string problem, LoadReport report)
        : base(filePath, problem)
    {
        Report = report;
    }

    /// <summary>The full report, with every problem found.</summary>
    public LoadReport Report { get; }
}
