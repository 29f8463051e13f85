using Med2E3.Native.Runtime;

namespace Med2E3.Native.Ops.Cpu;

/// <summary>Which code runs the CPU matrix products of frozen weights in each <see cref="CpuPrecision"/>.</summary>
public static class CpuMatMulPath
{
    /// <summary>
    /// True when <see cref="CpuPrecision.Bf16"/> runs on oneDNN: the library is available (and not disabled with
    /// <c>MED2E3_DNNL=0</c>) and its instruction set has bf16 dot products (AVX512-BF16 or AMX). Otherwise the
    /// project's own kernels run it.
    /// </summary>
    public static bool Bf16UsesDnnl => DnnlRuntime.IsAvailable && DnnlRuntime.HasNativeBf16;

    private static string OwnKernels => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated
        ? "f32: own kernels, weights packed once in their storage dtype, AVX-512 12x32"
        : "f32: own kernels, weights widened once, blocked GEMM";

    /// <summary>One line for <c>med2e3 info</c>, e.g. "bf16: oneDNN 2.6.3 avx512_core_bf16".</summary>
    public static string Describe(CpuPrecision precision) => precision switch
    {
        CpuPrecision.F32 => OwnKernels + " (the definition)",
        CpuPrecision.Bf16 when Bf16UsesDnnl => $"bf16: oneDNN {DnnlRuntime.Version} {DnnlRuntime.Isa}",
        CpuPrecision.Bf16 when DnnlRuntime.IsAvailable =>
            $"bf16: own kernels (oneDNN {DnnlRuntime.Version} found, but {DnnlRuntime.Isa} has no bf16 dot products)",
        CpuPrecision.Bf16 => $"bf16: own kernels ({DnnlRuntime.Describe()})",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown CPU precision"),
    };
}
