namespace Med2E3.Native.Tensors;

/// <summary>
/// Walks the elements of one shape under two stride sets (row-major order), after merging axes that are
/// contiguous in both. Used by the CPU copy, fill and accumulate loops.
/// </summary>
internal readonly struct StridedIndex
{
    public readonly int[] Shape;
    public readonly int[] StrideA;
    public readonly int[] StrideB;

    public StridedIndex(ReadOnlySpan<int> shape, ReadOnlySpan<int> sa, ReadOnlySpan<int> sb)
    {
        var sh = new List<int>();
        var a = new List<int>();
        var b = new List<int>();
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1) continue;
            int n = sh.Count;
            if (n > 0 && a[n - 1] == sa[i] * shape[i] && b[n - 1] == sb[i] * shape[i])
            {
                sh[n - 1] *= shape[i];
                a[n - 1] = sa[i];
                b[n - 1] = sb[i];
            }
            else
            {
                sh.Add(shape[i]);
                a.Add(sa[i]);
                b.Add(sb[i]);
            }
        }
        if (sh.Count == 0)
        {
            sh.Add(1);
            a.Add(1);
            b.Add(1);
        }
        Shape = sh.ToArray();
        StrideA = a.ToArray();
        StrideB = b.ToArray();
    }

    public int Inner => Shape[^1];

    public long Outer
    {
        get
        {
            long n = 1;
            for (int i = 0; i < Shape.Length - 1; i++) n *= Shape[i];
            return n;
        }
    }

    /// <summary>Element offsets (relative) of the first element of outer row <paramref name="row"/>.</summary>
    public void RowOffsets(long row, out long offA, out long offB)
    {
        offA = 0;
        offB = 0;
        for (int i = Shape.Length - 2; i >= 0; i--)
        {
            long idx = row % Shape[i];
            row /= Shape[i];
            offA += idx * StrideA[i];
            offB += idx * StrideB[i];
        }
    }
}
