using System.Text;
using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>One loaded kernel file (a <c>CUmodule</c>), with its functions cached by name.</summary>
public sealed class CudaModule : IDisposable
{
    private readonly SafeCudaModuleHandle _handle;
    private readonly Dictionary<string, CudaKernel> _functions = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    internal unsafe CudaModule(CudaDevice device, KernelBinary binary)
    {
        Device = device;
        Binary = binary;
        device.MakeCurrent();
        byte[] image = binary.Image;
        if (binary.Kind == KernelImageKind.Ptx && (image.Length == 0 || image[^1] != 0))
        {
            image = [.. image, 0];
        }

        nint raw;
        fixed (byte* p = image)
        {
            CUresult r = cuModuleLoadData(out raw, p);
            if (r != CUresult.CUDA_SUCCESS)
            {
                throw FromDriver(r, $"cuModuleLoadData(kernels/{binary.FileName} {binary.Target} {binary.Kind})");
            }
        }

        _handle = new SafeCudaModuleHandle();
        _handle.DangerousAttach(raw);
    }

    /// <summary>The device the module is loaded on.</summary>
    public CudaDevice Device { get; }

    /// <summary>The compiled image that was loaded.</summary>
    public KernelBinary Binary { get; }

    /// <summary>The kernel file name.</summary>
    public string FileName => Binary.FileName;

    /// <summary>The function <paramref name="kernelName"/>, looked up once and cached.</summary>
    /// <param name="kernelName">The <c>extern "C"</c> name.</param>
    public unsafe CudaKernel GetFunction(string kernelName)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            if (_functions.TryGetValue(kernelName, out CudaKernel? kernel))
            {
                return kernel;
            }

            Device.MakeCurrent();
            byte[] name = Encoding.UTF8.GetBytes(kernelName + "\0");
            nint function;
            fixed (byte* p = name)
            {
                CUresult r = cuModuleGetFunction(out function, _handle.DangerousGetHandle(), p);
                if (r == CUresult.CUDA_ERROR_NOT_FOUND)
                {
                    throw new ArgumentException(
                        $"kernels/{FileName}: no kernel named '{kernelName}' (is it extern \"C\" __global__?)",
                        nameof(kernelName));
                }

                Check(r, $"cuModuleGetFunction({kernelName})");
            }

            kernel = new CudaKernel(this, kernelName, function);
            _functions[kernelName] = kernel;
            return kernel;
        }
    }

    /// <summary>Unloads the module; its kernels can no longer be launched.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _functions.Clear();
            _handle.Dispose();
        }
    }
}
