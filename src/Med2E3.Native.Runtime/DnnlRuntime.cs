using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Dnnl;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Whether oneDNN (the optional library behind the bf16 CPU matrix products) is loaded and usable, which version and
/// which instruction set it runs. Probed once, on first use, from <see cref="DnnlLibraryProbe"/>'s candidates; never
/// throws. Everything works without it: the bf16 products then run on the project's own kernels.
/// </summary>
public static unsafe class DnnlRuntime
{
    private static readonly object Gate = new();
    private static nint _handle;
    private static bool _searched;
    private static string? _path;
    private static readonly Lazy<State> Probe = new(Initialise, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when oneDNN loaded, is a 2.x release and made a CPU engine (and is not disabled).</summary>
    public static bool IsAvailable => Probe.Value.Available;

    /// <summary>Why oneDNN is not available (null when it is).</summary>
    public static string? UnavailableReason => Probe.Value.Reason;

    /// <summary>The library version, e.g. "2.6.3" (null when not loaded).</summary>
    public static string? Version => Probe.Value.Version;

    /// <summary>The instruction set oneDNN dispatches to (<c>dnnl_get_effective_cpu_isa</c>), e.g. "avx512_core_bf16".</summary>
    public static string? Isa => Probe.Value.Isa;

    /// <summary>
    /// True when that instruction set has bf16 dot products in hardware (AVX512-BF16 or AMX), so a bf16 matmul is
    /// faster than the f32 one; without them oneDNN would emulate bf16.
    /// </summary>
    public static bool HasNativeBf16 => Probe.Value.NativeBf16;

    /// <summary>The library file that was loaded, if any.</summary>
    public static string? LibraryPath => Probe.Value.Path;

    /// <summary>One line for <c>med2e3 info</c>: "oneDNN 2.6.3 (avx512_core_bf16, OpenMP) from /…" or why not.</summary>
    public static string Describe()
    {
        State s = Probe.Value;
        return s.Available
            ? $"oneDNN {s.Version} ({s.Isa}, {s.Threading}) from {s.Path}"
            : $"oneDNN not available: {s.Reason}";
    }

    /// <summary>The process-wide CPU engine (valid when <see cref="IsAvailable"/>).</summary>
    internal static SafeDnnlEngineHandle Engine =>
        Probe.Value.Engine ?? throw new InvalidOperationException($"oneDNN is not available: {Probe.Value.Reason}");

    /// <summary>The loaded library for the import resolver (0 until <see cref="IsAvailable"/> has searched, or when absent).</summary>
    internal static nint LibraryHandle
    {
        get
        {
            lock (Gate)
            {
                return _handle;
            }
        }
    }

    /// <summary>
    /// Makes oneDNN's OpenMP parallel regions started from the calling thread use <paramref name="threads"/> threads
    /// (the OpenMP thread count is a per-thread setting, so this is asked before each product).
    /// </summary>
    internal static void SetThreads(int threads)
    {
        State s = Probe.Value;
        if (s.OmpSetNumThreads == 0 || threads < 1)
        {
            return;
        }

        // SAFETY: the function pointers were read from the loaded OpenMP runtime, which stays loaded for the process.
        if (((delegate* unmanaged<int>)s.OmpGetMaxThreads)() != threads)
        {
            ((delegate* unmanaged<int, void>)s.OmpSetNumThreads)(threads);
        }
    }

    /// <summary>Throws <see cref="DnnlException"/> unless <paramref name="status"/> is success.</summary>
    internal static void Check(Interop.Interop.Dnnl.dnnl_status_t status,
        [CallerArgumentExpression(nameof(status))] string? expr = null)
    {
        if (status != Interop.Interop.Dnnl.dnnl_status_t.dnnl_success)
        {
            string name = Enum.IsDefined(status) ? status.ToString() : "unknown status";
            throw new DnnlException((int)status, name, expr);
        }
    }

    /// <summary>The name oneDNN's documentation uses for an ISA value.</summary>
    internal static string IsaName(dnnl_cpu_isa_t isa) => Enum.IsDefined(isa)
        ? isa.ToString()["dnnl_cpu_isa_".Length..]
        : $"isa 0x{(int)isa:x}";

    private static State Initialise()
    {
        if (DnnlLibraryProbe.IsDisabled(Environment.GetEnvironmentVariable))
        {
            return State.Unavailable($"disabled by {DnnlLibraryProbe.DisableVariable}=0");
        }

        CudaLibraryResolver.EnsureRegistered();
        IReadOnlyList<string> candidates = DnnlLibraryProbe.Candidates(Environment.GetEnvironmentVariable,
            OperatingSystem.IsWindows());
        string? path = Load(candidates);
        if (path is null)
        {
            return State.Unavailable($"not found (tried {string.Join(", ", candidates)})");
        }

        try
        {
            dnnl_version_t* v = dnnl_version();
            string version = $"{v->major}.{v->minor}.{v->patch}";
            if (v->major != 2)
            {
                return State.Unavailable($"{path} is oneDNN {version}; this build binds the 2.x C API") with
                {
                    Version = version, Path = path,
                };
            }

            dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
            bool nativeBf16 = ((int)isa & 0x80) != 0;
            Check(dnnl_engine_create(out nint raw, dnnl_engine_kind_t.dnnl_cpu, 0));
            var engine = new SafeDnnlEngineHandle();
            engine.DangerousAttach(raw);
            (nint set, nint get) = v->cpu_runtime == DNNL_RUNTIME_OMP ? OpenMpControls() : (0, 0);
            string threading = v->cpu_runtime switch
            {
                DNNL_RUNTIME_OMP => "OpenMP",
                1u => "sequential",
                4u => "TBB",
                8u => "threadpool",
                _ => $"runtime {v->cpu_runtime}",
            };
            return new State(true, null, version, IsaName(isa), nativeBf16, path, threading, engine, set, get);
        }
        catch (EntryPointNotFoundException e)
        {
            return State.Unavailable($"{path}: {e.Message}") with { Path = path };
        }
        catch (DllNotFoundException e)
        {
            return State.Unavailable(e.Message);
        }
        catch (DnnlException e)
        {
            return State.Unavailable(e.Message) with { Path = path };
        }
    }

    private static string? Load(IReadOnlyList<string> candidates)
    {
        lock (Gate)
        {
            if (!_searched)
            {
                _searched = true;
                foreach (string candidate in candidates)
                {
                    if (NativeLibrary.TryLoad(candidate, out nint handle))
                    {
                        _handle = handle;
                        _path = Path.IsPathRooted(candidate) ? candidate : MappedPath(candidate) ?? candidate;
                        break;
                    }
                }
            }

            return _path;
        }
    }

    // oneDNN's OpenMP build links the GNU runtime; its thread-count calls are found in the already loaded library.
    private static (nint Set, nint Get) OpenMpControls()
    {
        foreach (string name in new[] { "libgomp.so.1", "libomp.so", "libiomp5.so" })
        {
            if (NativeLibrary.TryLoad(name, out nint omp)
                && NativeLibrary.TryGetExport(omp, "omp_set_num_threads", out nint set)
                && NativeLibrary.TryGetExport(omp, "omp_get_max_threads", out nint get))
            {
                return (set, get);
            }
        }

        return (0, 0);
    }

    // The loader does not say which file a bare name resolved to; on Linux /proc/self/maps does.
    private static string? MappedPath(string fileName)
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
                if (slash >= 0 && System.IO.Path.GetFileName(line[slash..].Trim()).StartsWith(stem, StringComparison.Ordinal))
                {
                    return line[slash..].Trim();
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

    private sealed record State(bool Available, string? Reason, string? Version, string? Isa, bool NativeBf16,
        string? Path, string? Threading, SafeDnnlEngineHandle? Engine, nint OmpSetNumThreads, nint OmpGetMaxThreads)
    {
        internal static State Unavailable(string reason) =>
            new(false, reason, null, null, false, null, null, null, 0, 0);
    }
}
