using Med2E3.Native.Runtime;
using static Med2E3.Native.Interop.Interop.Dnnl;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The oneDNN binding's fixed sizes and its status check.</summary>
public sealed unsafe class DnnlInteropTests
{
    [Fact]
    public void TheOpaqueStructsHaveTheNativeSizes()
    {
        // sizeof() of dnnl_memory_desc_t, dnnl_matmul_desc_t, dnnl_exec_arg_t and dnnl_version_t under the oneDNN
        // 2.6.3 headers (x86-64); the 2.x ABI keeps them.
        Assert.Equal(696, sizeof(dnnl_memory_desc_t));
        Assert.Equal(2800, sizeof(dnnl_matmul_desc_t));
        Assert.Equal(16, sizeof(dnnl_exec_arg_t));
        Assert.Equal(32, sizeof(dnnl_version_t));
    }

    [Fact]
    public void AFailedCallNamesTheCallAndTheStatus()
    {
        var e = Assert.Throws<DnnlException>(() => DnnlRuntime.Check(dnnl_status_t.dnnl_unimplemented, "dnnl_x(a, b)"));
        Assert.Equal("oneDNN: dnnl_x(a, b) failed with dnnl_unimplemented (3)", e.Message);
        Assert.Equal(3, e.Status);
        var unknown = Assert.Throws<DnnlException>(() => DnnlRuntime.Check((dnnl_status_t)42, "dnnl_y()"));
        Assert.Equal("oneDNN: dnnl_y() failed with unknown status (42)", unknown.Message);
        DnnlRuntime.Check(dnnl_status_t.dnnl_success, "dnnl_z()");
    }

    [Fact]
    public void TheIsaNamesAreOneDnnsOwn()
    {
        Assert.Equal("avx512_core_bf16", DnnlRuntime.IsaName(dnnl_cpu_isa_t.dnnl_cpu_isa_avx512_core_bf16));
        Assert.Equal("avx512_core_amx", DnnlRuntime.IsaName(dnnl_cpu_isa_t.dnnl_cpu_isa_avx512_core_amx));
        Assert.Equal("isa 0x1234", DnnlRuntime.IsaName((dnnl_cpu_isa_t)0x1234));
    }
}
