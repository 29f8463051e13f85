using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops;

/// <summary>Validation and backend selection shared by the op families.</summary>
internal static class Dispatch
{
    public static IBackend Backend(OpKind op, Tensor x)
    {
        CpuBackend.EnsureRegistered();
        var b = Backends.For(x.Device);
        if (!b.Supports(op, x.DType)) throw new NotSupportedOnBackendException(b.Name, op, x.DType);
        return b;
    }

    public static void SameDevice(string op, Tensor a, Tensor? b)
    {
        if (b is not null && a.Device != b.Device) throw new DeviceMismatchException(op, a.Device, b.Device);
    }

    public static void SameDType(string op, Tensor a, Tensor? b)
    {
        if (b is not null && a.DType != b.DType) throw new DTypeMismatchException(op, a.DType, b.DType);
    }

    public static void Same(string op, Tensor a, Tensor? b)
    {
        SameDevice(op, a, b);
        SameDType(op, a, b);
    }

    public static void Float(string op, Tensor a)
    {
        if (!a.DType.IsFloating()) throw new DTypeMismatchException(op, a.DType, DType.F32, "a float tensor is required");
    }

    public static void Index(string op, Tensor ids)
    {
        if (!ids.DType.IsInteger()) throw new DTypeMismatchException(op, ids.DType, DType.I64, "indices must be I32 or I64");
    }

    /// <summary>dtype of saved statistics: F64 for F64 inputs, else F32.</summary>
    public static DType StatType(DType t) => t == DType.F64 ? DType.F64 : DType.F32;

    /// <summary>A contiguous alias or copy that does not record autograd (for kernel inputs).</summary>
    public static Tensor C(Tensor t) => t.ContiguousNoGrad();
}
