namespace Med2E3.Native.Formats.Files;

/// <summary>Reads a whole (small) file from a stranger with a size cap checked before the read.</summary>
public static class FileBytes
{
    /// <summary>
    /// The bytes of <paramref name="path"/>; a missing file, one larger than <paramref name="maxBytes"/> or one that
    /// cannot be read is the exception <paramref name="error"/> makes from the problem text.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">The largest size read.</param>
    /// <param name="what">What the file is, for the size message (e.g. "a config file").</param>
    /// <param name="error">Makes the typed exception (the reader's kind) from a problem text.</param>
    public static byte[] Read(string path, long maxBytes, string what, Func<string, Exception> error)
    {
        long length;
        try
        {
            var info = new FileInfo(path);
            length = info.Exists ? info.Length : -1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error("cannot read: " + InputText.OneLine(e.Message));
        }
        if (length < 0)
        {
            throw error("file not found");
        }
        if (length > maxBytes)
        {
            throw error($"{length} bytes, more than the {maxBytes} {what} may have");
        }
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error("cannot read: " + InputText.OneLine(e.Message));
        }
    }
}
