using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Shared;

/// <summary>How an op's output is compared with its oracle (STYLE §9 tolerances).</summary>
public enum Check
{
    /// <summary>fp32 element-wise: |d − r| ≤ 1e-5 + 1e-4·|r|.</summary>
    Elementwise,
    /// <summary>Reductions, softmax, matmul, attention: NMSE = Σ(d − r)² / Σr² ≤ 1e-7.</summary>
    Nmse,
    /// <summary>Bit-exact (indices, copies, integer-valued matmul).</summary>
    Exact,
}

/// <summary>A host copy of a tensor for oracles: row-major values as doubles plus the shape.</summary>
/// <param name="Data">Values, row-major.</param>
/// <param name="Shape">Shape.</param>
public sealed record Arr(double[] Data, int[] Shape)
{
    /// <summary>Copies a tensor (any dtype, layout, device).</summary>
    public static Arr Of(Tensor t) => new(t.ToDoubleArray(), t.Shape);

    /// <summary>Element at a multi-index.</summary>
    public double this[params int[] idx] => Data[Oracle.Offset(Shape, idx)];
}

/// <summary>Input factory context: a seed counter, the float dtype and the device of the case.</summary>
public sealed class Gen(long seed, DType dtype, Device device)
{
    private long _seed = seed;

    /// <summary>Float dtype of the case.</summary>
    public DType DType { get; } = dtype;

    /// <summary>Device of the case.</summary>
    public Device Device { get; } = device;

    private Tensor Place(Tensor f64)
    {
        using (f64)
        using (var d = f64.To(DType))
            return d.To(Device);
    }

    /// <summary>Standard-normal tensor (contiguous).</summary>
    public Tensor Randn(params int[] shape) => Place(Tensor.Randn(_seed++, shape, DType.F64));

    /// <summary>Uniform tensor in [lo, hi).</summary>
    public Tensor Uniform(double lo, double hi, params int[] shape) => Place(Tensor.Rand(_seed++, shape, lo, hi, DType.F64));

    /// <summary>Normal values pushed away from 0 (|x| ≥ margin), for ops with a kink or pole at 0.</summary>
    public Tensor AwayFromZero(double margin, params int[] shape)
    {
        using var t = Tensor.Randn(_seed++, shape, DType.F64);
        var v = t.ToDoubleArray().Select(x => x >= 0 ? x + margin : x - margin).ToArray();
        return Place(Tensor.FromArray(v, shape));
    }

    /// <summary>A non-contiguous view of the given shape: the transpose of a contiguous tensor (last two axes swapped).</summary>
    public Tensor NonContiguous(params int[] shape)
    {
        if (shape.Length < 2) return Randn(shape);
        var s = (int[])shape.Clone();
        (s[^1], s[^2]) = (s[^2], s[^1]);
        using var t = Randn(s);
        return t.Transpose(-1, -2);
    }

    /// <summary>A non-contiguous view made by narrowing a wider tensor on its last axis.</summary>
    public Tensor Narrowed(params int[] shape)
    {
        var s = (int[])shape.Clone();
        s[^1] += 3;
        using var t = Randn(s);
        return t.Narrow(-1, 1, shape[^1]);
    }

    /// <summary>Integer ids in [0, hi) (I64).</summary>
    public Tensor Ids(long hi, params int[] shape)
    {
        using var t = Tensor.RandInt(_seed++, shape, 0, hi, DType.I64);
        return t.To(Device);
    }

    /// <summary>An I64 tensor from values.</summary>
    public Tensor Long(long[] values, params int[] shape)
    {
        using var t = Tensor.FromArray(values, shape);
        return t.To(Device);
    }

    /// <summary>A float tensor of the case dtype from values.</summary>
    public Tensor Values(double[] values, params int[] shape) => Place(Tensor.FromArray(values, shape));
}

/// <summary>
/// One conformance case of an op: seeded inputs (odd sizes, non-contiguous views), the op call through <c>F</c>,
/// and an oracle written from the op's formula in double precision.
/// </summary>
/// <param name="Kind">The op covered.</param>
/// <param name="Name">Unique case name.</param>
/// <param name="Inputs">Creates fresh inputs.</param>
/// <param name="Run">Calls the op; returns its outputs.</param>
/// <param name="Oracle">Expected outputs from the inputs' values.</param>
/// <param name="Check">Comparison rule.</param>
public sealed record OpCase(OpKind Kind, string Name, Func<Gen, Tensor[]> Inputs, Func<Tensor[], Tensor[]> Run,
    Func<Arr[], double[][]> Oracle, Check Check = Check.Elementwise)
{
    /// <summary>Indices of inputs checked by finite differences (empty when the op has no backward).</summary>
    public int[] GradInputs { get; init; } = [];

    /// <summary>Whether the case is also run in BF16 and F16.</summary>
    public bool Half { get; init; } = true;

    /// <summary>Whether the case runs in F64 (for the reference backend and gradient checks).</summary>
    public bool F64 { get; init; } = true;

    /// <summary>Why a tolerance or restriction differs from the default, if it does.</summary>
    public string? Note { get; init; }

    /// <inheritdoc />
    public override string ToString() => Name;
}
