using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using static Med2E3.Native.Interop.Interop.Nvrtc;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// Compiles kernel files with NVRTC: to CUBIN for an exact <c>sm_XX</c>, or to PTX for the newest virtual
/// architecture NVRTC knows when it is older than the device. Results are cached on disk under
/// <see cref="RuntimeOptions.KernelCacheDirectory"/>, keyed by SHA-256 over source, headers, options, target and
/// NVRTC version.
/// </summary>
public static partial class KernelCompiler
{
    /// <summary>
    /// Compiles the embedded <c>kernels/<paramref name="fileName"/></c> for <paramref name="arch"/> with the flags of
    /// <c>nvrtc_flags.txt</c> plus <paramref name="extraOptions"/>.
    /// </summary>
    /// <param name="fileName">Kernel file, e.g. "elementwise.cu".</param>
    /// <param name="arch">Device architecture, e.g. "sm_90".</param>
    /// <param name="extraOptions">More NVRTC options (e.g. "--ptxas-options=-v").</param>
    /// <param name="useDiskCache">Read and write the disk cache (also subject to <see cref="RuntimeOptions.KernelDiskCache"/>).</param>
    public static KernelBinary Compile(
        string fileName, string arch, IEnumerable<string>? extraOptions = null, bool useDiskCache = true)
    {
        string name = KernelSources.NormaliseFileName(fileName);
        IReadOnlyList<string> options = [.. KernelSources.Flags, .. extraOptions ?? []];
        return Compile(name, KernelSources.Read(name), KernelSources.Headers, arch, options, useDiskCache);
    }

    /// <summary>Compiles <paramref name="source"/> (named <paramref name="fileName"/>) for <paramref name="arch"/>.</summary>
    /// <param name="fileName">Name used in messages and by NVRTC.</param>
    /// <param name="source">The CUDA C++ source.</param>
    /// <param name="headers">In-memory headers by include name.</param>
    /// <param name="arch">Device architecture, e.g. "sm_90".</param>
    /// <param name="options">NVRTC options, without the architecture.</param>
    /// <param name="useDiskCache">Read and write the disk cache.</param>
    public static KernelBinary Compile(
        string fileName,
        string source,
        IReadOnlyDictionary<string, string> headers,
        string arch,
        IReadOnlyList<string> options,
        bool useDiskCache = true)
    {
        NvrtcRuntime.EnsureAvailable();
        (string target, KernelImageKind kind) = ChooseTarget(arch, NvrtcRuntime.SupportedArchs);
        IReadOnlyList<string> safeOptions = WithoutCrashingOptions(options, target, kind, NvrtcRuntime.Version);
        string[] allOptions = [.. safeOptions, $"--gpu-architecture={target}"];
        string key = ComputeCacheKey(source, headers, allOptions, target, NvrtcRuntime.Version.ToString());
        bool cache = useDiskCache && RuntimeOptions.KernelDiskCache;
        var clock = Stopwatch.StartNew();

        if (cache && TryReadCache(key, kind, out byte[]? cached))
        {
            RuntimeOptions.Debug(2, () => $"kernel cache hit {fileName} {target} {key[..16]}");
            return new KernelBinary(fileName, target, kind, cached, string.Empty, allOptions, clock.Elapsed, true, key);
        }

        RuntimeOptions.Debug(2, () => $"nvrtc {fileName} {string.Join(' ', allOptions)}\n{source}");
        (byte[] image, string log) = CompileWithNvrtc(fileName, source, headers, allOptions, target, kind);
        if (RuntimeOptions.DebugLevel >= 3)
        {
            // A CUBIN holds no PTX; compile the same source once more to the virtual architecture to show it.
            string ptx = kind == KernelImageKind.Ptx
                ? Encoding.UTF8.GetString(image).TrimEnd('\0')
                : CompileToPtx(fileName, source, headers, target, safeOptions);
            RuntimeOptions.Log($"PTX of {fileName} ({target}):\n{ptx}");
        }
        if (cache)
        {
            WriteCache(key, kind, image);
        }

        return new KernelBinary(fileName, target, kind, image, log, allOptions, clock.Elapsed, false, key);
    }

    /// <summary>
    /// Compiles <paramref name="source"/> to PTX for <c>compute_XX</c> of <paramref name="arch"/> (for inspection;
    /// never cached).
    /// </summary>
    /// <param name="fileName">Name used in messages.</param>
    /// <param name="source">The CUDA C++ source.</param>
    /// <param name="headers">In-memory headers.</param>
    /// <param name="arch">"sm_90" or "compute_90".</param>
    /// <param name="options">NVRTC options without the architecture.</param>
    public static string CompileToPtx(
        string fileName, string source, IReadOnlyDictionary<string, string> headers, string arch, IReadOnlyList<string> options)
    {
        NvrtcRuntime.EnsureAvailable();
        int number = ParseArch(arch);
        string target = $"compute_{number}";
        string[] allOptions = [.. options, $"--gpu-architecture={target}"];
        (byte[] image, _) = CompileWithNvrtc(fileName, source, headers, allOptions, target, KernelImageKind.Ptx);
        return Encoding.UTF8.GetString(image).TrimEnd('\0');
    }

    /// <summary>
    /// Picks the compile target for a device architecture: CUBIN for the exact <c>sm_XX</c> when NVRTC supports it
    /// (or cannot list what it supports), otherwise PTX for the newest supported architecture below it.
    /// </summary>
    /// <param name="arch">"sm_90" (a bare "90" is accepted too).</param>
    /// <param name="supportedArchs">What NVRTC reports it can target (may be empty when unknown).</param>
    public static (string Target, KernelImageKind Kind) ChooseTarget(string arch, IReadOnlyList<int> supportedArchs)
    {
        int number = ParseArch(arch);
        string suffix = ArchSuffix(arch);
        if (supportedArchs.Count == 0 || supportedArchs.Contains(number))
        {
            return ($"sm_{number}{suffix}", KernelImageKind.Cubin);
        }

        int fallback = supportedArchs.Where(a => a < number).DefaultIfEmpty(0).Max();
        if (fallback == 0)
        {
            throw new ArgumentException(
                $"architecture {arch} is older than anything NVRTC {NvrtcRuntime.Version} can target " +
                $"(sm_{supportedArchs[0]} … sm_{supportedArchs[^1]})", nameof(arch));
        }

        return ($"compute_{fallback}", KernelImageKind.Ptx);
    }

    /// <summary>
    /// Removes options that crash the compiler for this target. NVRTC 11.x's built-in ptxas for sm_90 dies with a
    /// segmentation fault (taking the whole process with it) on the line-table entries of an inlined function that
    /// contains a loop, so line info (<c>-lineinfo</c>) is dropped for CUBIN sm_90+ with NVRTC older than 12. PTX
    /// targets and other architectures keep every option.
    /// </summary>
    /// <param name="options">The requested options, without the architecture.</param>
    /// <param name="target">The chosen target, e.g. "sm_90".</param>
    /// <param name="kind">CUBIN or PTX.</param>
    /// <param name="nvrtcVersion">The NVRTC version.</param>
    public static IReadOnlyList<string> WithoutCrashingOptions(
        IReadOnlyList<string> options, string target, KernelImageKind kind, Version nvrtcVersion)
    {
        if (kind != KernelImageKind.Cubin || nvrtcVersion.Major >= 12 || ParseArch(target) < 90)
        {
            return options;
        }

        return options.Where(o => o is not ("-lineinfo" or "--generate-line-info")).ToArray();
    }

    /// <summary>Parses "sm_90", "sm_90a", "compute_90" or "90" to 90; throws <see cref="ArgumentException"/> otherwise.</summary>
    /// <param name="arch">The architecture text.</param>
    public static int ParseArch(string arch)
    {
        Match m = ArchPattern().Match(arch.Trim());
        if (!m.Success)
        {
            throw new ArgumentException(
                $"unknown architecture '{arch}': expected sm_<major><minor>, e.g. sm_80 or sm_90", nameof(arch));
        }

        return int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The disk cache key: SHA-256 (hex) over the source, every header (name and text, sorted by name), the options in
    /// order, the target and the NVRTC version.
    /// </summary>
    /// <param name="source">Kernel source.</param>
    /// <param name="headers">Headers by include name.</param>
    /// <param name="options">All NVRTC options.</param>
    /// <param name="target">Target architecture.</param>
    /// <param name="nvrtcVersion">NVRTC version text.</param>
    public static string ComputeCacheKey(
        string source, IReadOnlyDictionary<string, string> headers, IReadOnlyList<string> options, string target,
        string nvrtcVersion)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string label, string value)
        {
            // Length-prefix every field so that moving text between fields changes the key.
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            hash.AppendData(Encoding.UTF8.GetBytes($"{label}:{bytes.Length}:"));
            hash.AppendData(bytes);
        }

        Add("format", "med2e3-kernel-cache-v1");
        Add("source", source);
        foreach (KeyValuePair<string, string> header in headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            Add("header-name", header.Key);
            Add("header", header.Value);
        }

        foreach (string option in options)
        {
            Add("option", option);
        }

        Add("target", target);
        Add("nvrtc", nvrtcVersion);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static unsafe (byte[] Image, string Log) CompileWithNvrtc(
        string fileName, string source, IReadOnlyDictionary<string, string> headers, string[] options, string target,
        KernelImageKind kind)
    {
        using var strings = new Utf8Strings();
        KeyValuePair<string, string>[] headerList = [.. headers];
        byte** headerTexts = stackalloc byte*[Math.Max(1, headerList.Length)];
        byte** headerNames = stackalloc byte*[Math.Max(1, headerList.Length)];
        for (int i = 0; i < headerList.Length; i++)
        {
            headerTexts[i] = strings.Add(headerList[i].Value);
            headerNames[i] = strings.Add(headerList[i].Key);
        }

        byte** optionPointers = stackalloc byte*[Math.Max(1, options.Length)];
        for (int i = 0; i < options.Length; i++)
        {
            optionPointers[i] = strings.Add(options[i]);
        }

        Check(nvrtcCreateProgram(
            out nint program, strings.Add(source), strings.Add(fileName), headerList.Length, headerTexts, headerNames));
        var handle = new Med2E3.Native.Interop.SafeNvrtcProgramHandle();
        handle.DangerousAttach(program);
        using (handle)
        {
            nvrtcResult compiled = nvrtcCompileProgram(program, options.Length, optionPointers);
            string log = ReadLog(program);
            if (compiled != nvrtcResult.NVRTC_SUCCESS)
            {
                throw new KernelCompileException(fileName, target, options, log, NvrtcErrorName(compiled));
            }

            byte[] image;
            if (kind == KernelImageKind.Cubin)
            {
                Check(nvrtcGetCUBINSize(program, out nuint size));
                image = new byte[(int)size];
                fixed (byte* p = image)
                {
                    Check(nvrtcGetCUBIN(program, p));
                }
            }
            else
            {
                Check(nvrtcGetPTXSize(program, out nuint size));
                image = new byte[(int)size];
                fixed (byte* p = image)
                {
                    Check(nvrtcGetPTX(program, p));
                }
            }

            return (image, log);
        }
    }

    private static unsafe string ReadLog(nint program)
    {
        Check(nvrtcGetProgramLogSize(program, out nuint size));
        if (size <= 1)
        {
            return string.Empty;
        }

        byte[] buffer = new byte[(int)size];
        fixed (byte* p = buffer)
        {
            Check(nvrtcGetProgramLog(program, p));
        }

        return Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1);
    }

    private static string CachePath(string key, KernelImageKind kind) =>
        Path.Combine(RuntimeOptions.KernelCacheDirectory, key + (kind == KernelImageKind.Cubin ? ".cubin" : ".ptx"));

    private static bool TryReadCache(string key, KernelImageKind kind, out byte[] image)
    {
        image = [];
        try
        {
            string path = CachePath(key, kind);
            if (!File.Exists(path))
            {
                return false;
            }

            image = File.ReadAllBytes(path);
            return image.Length > 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void WriteCache(string key, KernelImageKind kind, byte[] image)
    {
        try
        {
            Directory.CreateDirectory(RuntimeOptions.KernelCacheDirectory);
            string path = CachePath(key, kind);
            string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            File.WriteAllBytes(temp, image);
            File.Move(temp, path, overwrite: true);
        }
        catch (IOException e)
        {
            RuntimeOptions.Debug(1, () => $"kernel cache not written: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            RuntimeOptions.Debug(1, () => $"kernel cache not written: {e.Message}");
        }
    }

    private static string ArchSuffix(string arch)
    {
        Match m = ArchPattern().Match(arch.Trim());
        return m.Success ? m.Groups["s"].Value : string.Empty;
    }

    [GeneratedRegex(@"^(?:sm_|compute_)?(?<n>[1-9][0-9]{1,2})(?<s>[af]?)$")]
    private static partial Regex ArchPattern();

    // NUL-terminated UTF-8 copies that live until the compile call returns.
    private sealed unsafe class Utf8Strings : IDisposable
    {
        private readonly List<nint> _allocations = [];

        public byte* Add(string text)
        {
            nint p = Marshal.StringToCoTaskMemUTF8(text);
            _allocations.Add(p);
            return (byte*)p;
        }

        public void Dispose()
        {
            foreach (nint p in _allocations)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }
}
