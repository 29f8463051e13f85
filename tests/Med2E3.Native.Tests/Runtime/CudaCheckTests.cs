using Med2E3.Native.Runtime;
using static Med2E3.Native.Interop.Interop.Cublas;
using static Med2E3.Native.Interop.Interop.Cuda;
using static Med2E3.Native.Interop.Interop.Nvrtc;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The result-check helper: native code → name, and the failing call expression in the message.</summary>
public class CudaCheckTests
{
    private static CUresult FakeAlloc(ulong bytes) => bytes > 0 ? CUresult.CUDA_ERROR_OUT_OF_MEMORY : CUresult.CUDA_SUCCESS;

    [Fact]
    public void SuccessDoesNotThrow() => CudaCheck.Check(FakeAlloc(0));

    [Fact]
    public void DriverErrorCarriesNameCodeAndExpression()
    {
        var e = Assert.Throws<CudaException>(() => CudaCheck.Check(FakeAlloc(4096)));
        Assert.Equal(2, e.Code);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Equal("FakeAlloc(4096)", e.Expression);
        Assert.StartsWith("FakeAlloc(4096) failed with CUDA_ERROR_OUT_OF_MEMORY (2)", e.Message, StringComparison.Ordinal);
        Assert.Equal("CUDA driver", e.Library);
    }

    private static CUresult FakeQuery(int state) => (CUresult)state;

    [Fact]
    public void QueryResultsMapToReadinessOrAnException()
    {
        Assert.True(CudaCheck.CheckReady(FakeQuery(0)));
        Assert.False(CudaCheck.CheckReady(FakeQuery(600)));   // CUDA_ERROR_NOT_READY: still running, not an error
        var e = Assert.Throws<CudaException>(() => CudaCheck.CheckReady(FakeQuery(700)));
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", e.ErrorName);
        Assert.Equal("FakeQuery(700)", e.Expression);
    }

    [Theory]
    [InlineData(700, "CUDA_ERROR_ILLEGAL_ADDRESS")]
    [InlineData(209, "CUDA_ERROR_NO_BINARY_FOR_GPU")]
    [InlineData(100, "CUDA_ERROR_NO_DEVICE")]
    [InlineData(901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED")]
    [InlineData(12345, "CUDA_ERROR_12345")]
    public void DriverCodesMapToNativeNames(int code, string name)
    {
        CUresult r = (CUresult)code;
        var e = Assert.Throws<CudaException>(() => CudaCheck.Check(r));
        Assert.Equal(name, e.ErrorName);
        Assert.Equal(code, e.Code);
        Assert.Contains($"{name} ({code})", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NvrtcErrorCarriesNameAndExpression()
    {
        static nvrtcResult Compile(string file) => nvrtcResult.NVRTC_ERROR_INVALID_OPTION;
        var e = Assert.Throws<CudaException>(() => CudaCheck.Check(Compile("x.cu")));
        Assert.Equal("NVRTC_ERROR_INVALID_OPTION", e.ErrorName);
        Assert.Equal(5, e.Code);
        Assert.Contains("Compile(\"x.cu\")", e.Message, StringComparison.Ordinal);
        Assert.Equal("NVRTC", e.Library);
    }

    [Fact]
    public void CublasErrorCarriesNameDescriptionAndExpression()
    {
        static cublasStatus_t Gemm(int m) => cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE;
        var e = Assert.Throws<CudaException>(() => CudaCheck.Check(Gemm(7)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", e.ErrorName);
        Assert.Contains("Gemm(7) failed with CUBLAS_STATUS_INVALID_VALUE (7)", e.Message, StringComparison.Ordinal);
        Assert.Contains("unsupported value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AvailabilityProbesNeverThrowAndExplainThemselves()
    {
        // On a machine without a driver these are false with a reason; with one, true with no reason.
        Assert.Equal(CudaRuntime.IsAvailable, CudaRuntime.UnavailableReason is null);
        Assert.Equal(NvrtcRuntime.IsAvailable, NvrtcRuntime.UnavailableReason is null);
        Assert.Equal(CublasRuntime.IsAvailable, CublasRuntime.UnavailableReason is null);
        if (!CudaRuntime.IsAvailable)
        {
            Assert.Equal(0, CudaRuntime.DeviceCount);
            var e = Assert.Throws<CudaUnavailableException>(() => CudaDevice.Open());
            Assert.Contains(CudaRuntime.UnavailableReason!, e.Message, StringComparison.Ordinal);
        }
    }
}
