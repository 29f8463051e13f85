using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// A weight or config file could not be read: it is malformed, truncated, inconsistent or unsafe.
/// The message is one line and starts with the file path.
/// </summary>
public class CheckpointFormatException : IOException
{
    public CheckpointFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file (or directory) that caused the problem.</summary>
    public string FilePath { get; }

    /// <summary>The problem without the file path.</summary>
    public string Problem { get; }
}

/// <summary>A pickle stream refers to a global that a state dict never needs; nothing was executed.</summary>
public sealed class UnsafePickleException : CheckpointFormatException
{
    public UnsafePickleException(string filePath, string globalName)
        : base(filePath, $"pickle refers to the global {InputText.Quote(globalName)}, which a state dict never needs; " +
                         "refused before executing anything")
    {
        GlobalName = globalName;
    }

    /// <summary>The refused global as <c>module.name</c>, e.g. <c>os.system</c>.</summary>
    public string GlobalName { get; }
}

/// <summary>A <c>config.json</c> is missing a required field or holds a value that cannot be used.</summary>
public sealed class CheckpointConfigException : CheckpointFormatException
{
    public CheckpointConfigException(string filePath, string field, string problem)
        : base(filePath, field.Length == 0 ? problem : $"field {InputText.Quote(field)}: {problem}")
    {
        Field = field;
    }

    /// <summary>The JSON field at fault (dotted path for nested fields), or empty for the whole file.</summary>
    public string Field { get; }
}
