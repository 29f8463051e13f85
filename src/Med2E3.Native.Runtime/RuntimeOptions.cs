namespace Med2E3.Native.Runtime;

/// <summary>
/// Process-wide switches, read once from the environment and settable from code:
/// <c>MED2E3_SYNC=1</c> synchronises and checks after every launch; <c>MED2E3_DEBUG=1|2|3</c> logs launches
/// (grid, block, time), then NVRTC source and options, then PTX; <c>MED2E3_CACHE_DIR</c> moves the cache root;
/// <c>MED2E3_KERNEL_CACHE=0</c> turns the compiled-kernel disk cache off; <c>MED2E3_POOL_EXACT=1</c> makes the device
/// memory pool allocate exactly and cache nothing.
/// </summary>
public static class RuntimeOptions
{
    /// <summary>Synchronise the stream and check for errors after every kernel launch (<c>MED2E3_SYNC=1</c>).</summary>
    public static bool SyncAfterLaunch { get; set; } = Environment.GetEnvironmentVariable("MED2E3_SYNC") == "1";

    /// <summary>Debug log level 0–3 (<c>MED2E3_DEBUG</c>).</summary>
    public static int DebugLevel { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("MED2E3_DEBUG"), out int level) ? Math.Clamp(level, 0, 3) : 0;

    /// <summary>Use the compiled-kernel disk cache (default true; <c>MED2E3_KERNEL_CACHE=0</c> disables it).</summary>
    public static bool KernelDiskCache { get; set; } = Environment.GetEnvironmentVariable("MED2E3_KERNEL_CACHE") != "0";

    /// <summary>
    /// The memory pools of devices opened from now on allocate every request at its exact size and free it when it is
    /// returned, instead of rounding to buckets and caching (<c>MED2E3_POOL_EXACT=1</c>). Slower; for checking
    /// kernels, so that an access past the end of a buffer, or to a returned one, is not hidden by the pool (the
    /// emulated device then reports it).
    /// </summary>
    public static bool ExactDeviceAllocations { get; set; } = Environment.GetEnvironmentVariable("MED2E3_POOL_EXACT") == "1";

    /// <summary>Where debug lines go; standard error by default.</summary>
    public static Action<string> Log { get; set; } = line => Console.Error.WriteLine("[med2e3] " + line);

    /// <summary>The folder of the compiled-kernel disk cache.</summary>
    public static string KernelCacheDirectory { get; set; } = DefaultKernelCacheDirectory(Environment.GetEnvironmentVariable);

    /// <summary>
    /// The default kernel cache folder: <c>$MED2E3_CACHE_DIR/kernels</c>, else <c>$XDG_CACHE_HOME/med2e3/kernels</c>,
    /// else <c>~/.cache/med2e3/kernels</c> (the local application data folder on Windows).
    /// </summary>
    /// <param name="getEnvironmentVariable">Reads an environment variable.</param>
    public static string DefaultKernelCacheDirectory(Func<string, string?> getEnvironmentVariable)
    {
        string? root = getEnvironmentVariable("MED2E3_CACHE_DIR");
        if (!string.IsNullOrWhiteSpace(root))
        {
            return Path.Combine(root, "kernels");
        }

        string? xdg = getEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg))
        {
            return Path.Combine(xdg, "med2e3", "kernels");
        }

        if (OperatingSystem.IsWindows())
        {
            return Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "med2e3", "kernels");
        }

        string home = getEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache", "med2e3", "kernels");
    }

    internal static void Debug(int level, Func<string> message)
    {
        if (DebugLevel >= level)
        {
            Log(message());
        }
    }
}
