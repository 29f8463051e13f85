namespace Med2E3.Native.Runtime;

/// <summary>One module per kernel file per device, compiled and loaded lazily on first use.</summary>
internal sealed class KernelModuleCache(CudaDevice device) : IDisposable
{
    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public CudaModule GetModule(string fileName)
    {
        string name = KernelSources.NormaliseFileName(fileName);
        lock (_gate)
        {
            if (_modules.TryGetValue(name, out CudaModule? module))
            {
                return module;
            }

            KernelBinary binary = KernelCompiler.Compile(name, device.Arch);
            RuntimeOptions.Debug(1, () =>
                $"loaded kernels/{name} as {binary.Kind} for {binary.Target} " +
                $"({(binary.FromCache ? "cache" : "compiled")} in {binary.CompileTime.TotalMilliseconds:F0} ms)");
            module = new CudaModule(device, binary);
            _modules[name] = module;
            return module;
        }
    }

    public CudaKernel GetKernel(string fileName, string kernelName) => GetModule(fileName).GetFunction(kernelName);

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (CudaModule module in _modules.Values.Reverse())
            {
                module.Dispose();
            }

            _modules.Clear();
        }
    }
}
