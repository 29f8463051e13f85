namespace Med2E3.Native.Tensors;

/// <summary>Thrown when an op receives shapes it cannot combine. Names the op, both shapes and the axis.</summary>
public sealed class ShapeMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="op">Op name, e.g. "Linear".</param>
    /// <param name="a">First shape.</param>
    /// <param name="b">Second shape.</param>
    /// <param name="axis">Offending axis, or -1 when the rank differs or no single axis is at fault.</param>
    /// <param name="detail">Optional one-line explanation.</param>
    public ShapeMismatchException(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b, int axis, string? detail = null)
        : base($"{op}: shape mismatch {Shapes.Format(a)} vs {Shapes.Format(b)}"
               + (axis >= 0 ? $" at axis {axis}" : "") + (detail is null ? "" : $" ({detail})"))
    {
        Op = op;
        ShapeA = a.ToArray();
        ShapeB = b.ToArray();
        Axis = axis;
    }

    /// <summary>Creates the exception with a free-form message for single-tensor shape errors.</summary>
    /// <param name="op">Op name.</param>
    /// <param name="shape">The offending shape.</param>
    /// <param name="detail">What is wrong.</param>
    public ShapeMismatchException(string op, ReadOnlySpan<int> shape, string detail)
        : base($"{op}: bad shape {Shapes.Format(shape)}: {detail}")
    {
        Op = op;
        ShapeA = shape.ToArray();
        ShapeB = [];
        Axis = -1;
    }

    /// <summary>The op that failed.</summary>
    public string Op { get; }

    /// <summary>First shape.</summary>
    public int[] ShapeA { get; }

    /// <summary>Second shape (empty for single-tensor errors).</summary>
    public int[] ShapeB { get; }

    /// <summary>Offending axis or -1.</summary>
    public int Axis { get; }
}
