namespace Med2E3.Native.Runtime;

/// <summary>
/// Where to look for oneDNN, as a pure function of the environment, so the order and the switches can be tested.
/// <c>MED2E3_DNNL=0</c> turns the library off; <c>MED2E3_DNNL_LIB</c> names the one file to load (nothing else is
/// tried then); otherwise the 2.x sonames go to the loader's own search. Only the 2.x C API is bound (oneDNN 3 changed the descriptor calls), so
/// <c>libdnnl.so.3</c> is not a candidate.
/// </summary>
public static class DnnlLibraryProbe
{
    /// <summary>Environment variable that disables oneDNN when it is <c>0</c>, <c>false</c> or <c>off</c>.</summary>
    public const string DisableVariable = "MED2E3_DNNL";

    /// <summary>Environment variable naming the library file to load instead of searching.</summary>
    public const string LibraryVariable = "MED2E3_DNNL_LIB";

    /// <summary>The file names tried without the override, in order.</summary>
    /// <param name="windows">True for Windows DLL names.</param>
    public static IReadOnlyList<string> FileNames(bool windows) =>
        windows ? ["dnnl.dll"] : ["libdnnl.so.2", "libdnnl.so"];

    /// <summary>True when <see cref="DisableVariable"/> turns oneDNN off.</summary>
    /// <param name="getEnvironmentVariable">Reads an environment variable (null when unset).</param>
    public static bool IsDisabled(Func<string, string?> getEnvironmentVariable)
    {
        string? v = getEnvironmentVariable(DisableVariable)?.Trim();
        return v is not null && (v == "0" || v.Equals("false", StringComparison.OrdinalIgnoreCase)
            || v.Equals("off", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The load candidates in order: the override alone when it is set, else <see cref="FileNames"/>.</summary>
    /// <param name="getEnvironmentVariable">Reads an environment variable (null when unset).</param>
    /// <param name="windows">True for Windows names.</param>
    public static IReadOnlyList<string> Candidates(Func<string, string?> getEnvironmentVariable, bool windows)
    {
        string? path = getEnvironmentVariable(LibraryVariable);
        return string.IsNullOrWhiteSpace(path) ? FileNames(windows) : [path.Trim()];
    }
}
