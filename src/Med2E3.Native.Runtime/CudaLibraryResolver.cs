using System.Reflection;
using System.Runtime.InteropServices;
using Med2E3.Native.Interop;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Maps the logical library names of the Interop imports to real files with <see cref="NativeLibraryProbe"/>, and
/// remembers what was loaded from where (for <c>med2e3 info</c>). It also hands oneDNN's name to
/// <see cref="DnnlRuntime"/>, since an assembly has a single import resolver.
/// </summary>
public static class CudaLibraryResolver
{
    private static readonly object Gate = new();
    private static readonly Dictionary<CudaLibrary, (nint Handle, string? Path)> Loaded = [];
    private static bool _registered;

    /// <summary>Installs the resolver on the Interop assembly; safe to call many times.</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered)
            {
                return;
            }

            NativeLibrary.SetDllImportResolver(typeof(Interop.Interop).Assembly, Resolve);
            _registered = true;
        }
    }

    /// <summary>Loads <paramref name="library"/> if it can be found; never throws.</summary>
    /// <param name="library">Which library.</param>
    /// <param name="path">The file that was loaded (a full path when it could be determined).</param>
    /// <returns>True when the library is loaded.</returns>
    public static bool TryLoad(CudaLibrary library, out string? path)
    {
        EnsureRegistered();
        (nint handle, path) = GetOrLoad(library);
        return handle != 0;
    }

    /// <summary>True when <paramref name="library"/> was already loaded (does not try to load it).</summary>
    /// <param name="library">Which library.</param>
    public static bool IsLoaded(CudaLibrary library)
    {
        lock (Gate)
        {
            return Loaded.TryGetValue(library, out var entry) && entry.Handle != 0;
        }
    }

    /// <summary>
    /// The address of the optional entry point <paramref name="name"/> of <paramref name="library"/> when that library is
    /// loaded and exports it (for entry points that only some versions, or the emulated device, have).
    /// </summary>
    /// <param name="library">Which library (it is not loaded by this call).</param>
    /// <param name="name">The exported symbol.</param>
    /// <param name="address">The entry point, or 0.</param>
    /// <returns>True when the export exists.</returns>
    public static bool TryGetExport(CudaLibrary library, string name, out nint address)
    {
        address = 0;
        lock (Gate)
        {
            return Loaded.TryGetValue(library, out var entry) && entry.Handle != 0
                && NativeLibrary.TryGetExport(entry.Handle, name, out address);
        }
    }

    /// <summary>The candidates that are searched for <paramref name="library"/> on this machine, in order.</summary>
    /// <param name="library">Which library.</param>
    public static IReadOnlyList<string> SearchedCandidates(CudaLibrary library) =>
        NativeLibraryProbe.Candidates(
            library,
            Environment.GetEnvironmentVariable,
            OperatingSystem.IsWindows() ? [] : NativeLibraryProbe.DefaultLinuxDirectories,
            File.Exists,
            OperatingSystem.IsWindows());

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName == Interop.Interop.Libraries.Dnnl)
        {
            // oneDNN is not a CUDA library, but the Interop assembly has one resolver; DnnlRuntime owns its search.
            return DnnlRuntime.LibraryHandle;
        }

        CudaLibrary? library = libraryName switch
        {
            Interop.Interop.Libraries.Cuda => CudaLibrary.Driver,
            Interop.Interop.Libraries.Nvrtc => CudaLibrary.Nvrtc,
            Interop.Interop.Libraries.Cublas => CudaLibrary.Cublas,
            Interop.Interop.Libraries.CublasLt => CudaLibrary.CublasLt,
            _ => null,
        };
        return library is null ? 0 : GetOrLoad(library.Value).Handle;
    }

    // Each library is searched for once; the result, found or not, is remembered.
    private static (nint Handle, string? Path) GetOrLoad(CudaLibrary library)
    {
        lock (Gate)
        {
            if (!Loaded.TryGetValue(library, out var entry))
            {
                entry = LoadFirst(library);
                Loaded[library] = entry;
            }

            return entry;
        }
    }

    private static (nint Handle, string? Path) LoadFirst(CudaLibrary library)
    {
        if (library == CudaLibrary.Cublas)
        {
            // cuBLAS depends on cuBLASLt of the same version; loading it first from the same search makes the
            // dependency resolve to the copy we chose rather than whatever the loader finds.
            GetOrLoad(CudaLibrary.CublasLt);
        }

        foreach (string candidate in SearchedCandidates(library))
        {
            if (NativeLibrary.TryLoad(candidate, out nint handle))
            {
                string path = Path.IsPathRooted(candidate) ? candidate : FindMappedPath(candidate) ?? candidate;
                return (handle, path);
            }
        }

        return (0, null);
    }

    // The loader does not say which file a bare name resolved to; on Linux /proc/self/maps does.
    private static string? FindMappedPath(string fileName)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            string stem = fileName.Split(".so")[0] + ".so";
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0)
                {
                    continue;
                }

                string path = line[slash..].Trim();
                if (Path.GetFileName(path).StartsWith(stem, StringComparison.Ordinal))
                {
                    return path;
                }
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
}
