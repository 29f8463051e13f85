namespace Med2E3.Native.Runtime;

/// <summary>What a compiled kernel image holds.</summary>
public enum KernelImageKind
{
    /// <summary>Machine code for one exact architecture (<c>sm_XX</c>).</summary>
    Cubin,

    /// <summary>PTX for a virtual architecture (<c>compute_XX</c>), compiled by the driver at load time.</summary>
    Ptx,
}
