namespace Med2E3.Native.Tensors;

/// <summary>
/// Shape helpers and the project-wide shape letters. Shapes are row-major <c>int[]</c>, last index fastest.
/// Letters used in shape comments everywhere: B batch, T tokens, C channels, H heads, Dh head dim, L layers,
/// V vocab; D, Hi, W depth, height, width of a volume or image; P patch size; N rows of a flattened 2D view.
/// </summary>
public static class Shapes
{
    /// <summary>Number of elements (1 for a scalar shape).</summary>
    public static long Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    /// <summary>Row-major contiguous strides for <paramref name="shape"/>.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = (int)acc;
            acc *= Math.Max(shape[i], 1);
        }
        return s;
    }

    /// <summary>Formats a shape as "(2, 3, 4)".</summary>
    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    /// <summary>Normalises a possibly negative axis against <paramref name="rank"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The axis is out of range.</exception>
    public static int Axis(int axis, int rank, string op = "axis")
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"{op}: axis {axis} out of range for rank {rank}");
        return a;
    }

    /// <summary>Broadcast two shapes with NumPy rules.</summary>
    /// <exception cref="ShapeMismatchException">The shapes are not broadcast-compatible.</exception>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b, string op = "Broadcast")
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1) throw new ShapeMismatchException(op, a, b, i, "not broadcastable");
            o[i] = da == 1 ? db : da;
        }
        return o;
    }

    /// <summary>True when both shapes are equal.</summary>
    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
