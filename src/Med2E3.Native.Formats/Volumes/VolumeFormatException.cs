using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// A volume file could not be read: unknown format, malformed or truncated header, unsupported data type or shape,
/// or non-finite voxels. The message is one line naming the file and the problem.
/// </summary>
public class VolumeFormatException : InputFileException
{
    /// <summary>Creates the exception; <see cref="Exception.Message"/> becomes "<paramref name="filePath"/>: <paramref name="problem"/>".</summary>
    public VolumeFormatException(string filePath, string problem, Exception? inner = null)
        : base(filePath, problem, inner)
    {
    }
}
