using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>Concat, split, repeat_interleave, index_select and gather, with their gradients.</summary>
public static unsafe class Indexing
{
    internal static Tensor Concat(Tensor[] xs, int axis)
    {
        if (xs.Length == 0) throw new ArgumentException("Indexing.cs: Concat of no tensors", nameof(xs));
        var first = xs[0];
        int ax = Shapes.Axis(axis, first.Rank, "Concat");
        int total = 0;
        foreach (var t in xs)
        {
            Dispatch.Same("Concat", first, t);
            if (t.Rank != first.Rank) throw new ShapeMismatchException("Concat", first.ShapeSpan, t.ShapeSpan, -1, "ranks differ");
            for (int i = 0; i < t.Rank; i++)
                if (i != ax && t.ShapeSpan[i] != first.ShapeSpan[i]) throw new ShapeMismatchException("Concat", first.ShapeSpan, t.ShapeSpan, i);
            total += t.Dim(ax);
        }
        Dispatch.Backend(OpKind.Concat, first);
        var shape = first.Shape;
        shape[ax] = total;
        var y = Tensor.Empty(shape, first.DType, first.Device);
        var sizes = new int[xs.Length];
        int off = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            sizes[i] = xs[i].Dim(ax);
            using var win = y.NarrowNoGrad(ax, off, sizes[i]);
            win.CopyFrom(xs[i]);
            off += sizes[i];
        }
        return Autograd.Record(y, OpKind.Concat, "Concat", xs, [], (node, g) =>
        {
            var r = new Tensor?[sizes.Length];
            int o = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                if (node.NeedsInputGrad(i)) r[i] = g.NarrowNoGrad(ax, o, sizes[i]);
                o += sizes[i];
            }
            return r;
        });
    }

    internal static Tensor[] Split(Tensor x, int[] sizes, int axis)
    {
        int ax = Shapes.Axis(axis, x.Rank, "Split");
        if (sizes.Sum() != x.Dim(ax)) throw new ShapeMismatchException("Split", x.ShapeSpan, sizes, ax, "sizes do not add up to the axis");
        var r = new Tensor[sizes.Length];
        int off = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            r[i] = x.Narrow(ax, off, sizes[i]);
            off += sizes[i];
        }
        return r;
    }

    internal static Tensor RepeatInterleave(Tensor x, int repeats, int axis)
    {
        int ax = Shapes.Axis(axis, x.Rank, "RepeatInterleave");
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "Indexing.cs: repeats must be ≥ 1");
        var sh = x.Shape;
        var ex = sh.ToList();
        ex.Insert(ax + 1, repeats);
        var outShape = x.Shape;
        outShape[ax] *= repeats;
        using var u = x.Unsqueeze(ax + 1);                 // (…, N, 1, …)
        using var e = u.Expand(ex.ToArray());              // (…, N, r, …)
        using var c = e.Contiguous();
        return c.Reshape(outShape);                        // (…, N·r, …)
    }

    /// <summary>Reference: y[o, m, i] = x[o, ids[m], i].</summary>
    public static void IndexSelectReference<T>(T* x, Tensor ids, int outer, int n, int inner, T* y) where T : unmanaged
    {
        long m = ids.Numel;
        Par.For(outer * m, 64, (s, e) =>
        {
            for (long om = s; om < e; om++)
            {
                long o = om / m, j = om % m;
                new ReadOnlySpan<T>(x + (o * n + Embedding.Id(ids, j)) * inner, inner).CopyTo(new Span<T>(y + om * inner, inner));
            }
        });
    }

    /// <summary>Reference: dx = 0; dx[o, ids[m], i] += dy[o, m, i] (sequential over m).</summary>
    public static void IndexAddReference<T>(T* dy, Tensor ids, int outer, int n, int inner, T* dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long m = ids.Numel;
        new Span<T>(dx, checked(outer * n * inner)).Clear();
        Par.For(outer, 1, (s, e) =>
        {
            for (long o = s; o < e; o++)
                for (long j = 0; j < m; j++)
                {
                    T* d = dx + (o * n + Embedding.Id(ids, j)) * inner;
                    T* src = dy + (o * m + j) * inner;
                    for (int i = 0; i < inner; i++) d[i] += src[i];
                }
        });
    }

    /// <summary>Reference: y[o, j, i] = x[o, index[o, j, i], i].</summary>
    public static void GatherReference<T>(T* x, Tensor index, int outer, int n, int m, int inner, T* y) where T : unmanaged
    {
        Par.For((long)outer * m * inner, 1024, (s, e) =>
        {
            for (long t = s; t < e; t++)
            {
                long i = t % inner, o = t / inner / m;
                y[t] = x[(o * n + Embedding.Id(index, t)) * inner + i];
            }
        });
    }

    /// <summary>Reference: dx = 0; dx[o, index[o, j, i], i] += dy[o, j, i] (sequential).</summary>
    public static void ScatterAddReference<T>(T* dy, Tensor index, int outer, int n, int m, int inner, T* dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        new Span<T>(dx, checked(outer * n * inner)).Clear();
        long total = (long)outer * m * inner;
        for (long t = 0; t < total; t++)
        {
            long i = t % inner, o = t / inner / m;
            dx[(o * n + Embedding.Id(index, t)) * inner + i] += dy[t];
        }
    }

    private static (int Outer, int N, int Inner) Split3(int[] shape, int ax)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= shape[i];
        for (int i = ax + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[ax], inner);
    }

    internal static Tensor IndexSelect(Tensor x, int axis, Tensor ids)
    {
        Dispatch.Index("IndexSelect", ids);
        Dispatch.SameDevice("IndexSelect", x, ids);
        if (ids.Rank != 1) throw new ShapeMismatchException("IndexSelect", ids.ShapeSpan, "indices must be 1-D");
        int ax = Shapes.Axis(axis, x.Rank, "IndexSelect");
        var be = Dispatch.Backend(OpKind.IndexSelect, x);
        var sh = x.Shape;
        var (outer, n, inner) = Split3(sh, ax);
        using var xc = Dispatch.C(x);
        using var ic = Dispatch.C(ids);
        var outShape = x.Shape;
        outShape[ax] = ids.Dim(0);
        var y = Tensor.Empty(outShape, x.DType, x.Device);
        be.IndexSelect(xc, ic, outer, n, inner, y);
        return Autograd.Record(y, OpKind.IndexSelect, "IndexSelect", [x], [ic], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(sh, g.DType, g.Device);
            Backends.For(g.Device).IndexAdd(gc, node.Saved[0]!, outer, n, inner, dx);
            return [dx];
        });
    }

    internal static Tensor Gather(Tensor x, int axis, Tensor index)
    {
        Dispatch.Index("Gather", index);
        Dispatch.SameDevice("Gather", x, index);
        int ax = Shapes.Axis(axis, x.Rank, "Gather");
        if (index.Rank != x.Rank) throw new ShapeMismatchException("Gather", x.ShapeSpan, index.ShapeSpan, -1, "index rank must equal x rank");
        for (int i = 0; i < x.Rank; i++)
            if (i != ax && index.ShapeSpan[i] != x.ShapeSpan[i])
                throw new ShapeMismatchException("Gather", x.ShapeSpan, index.ShapeSpan, i, "index must match x except on the gather axis");
        var be = Dispatch.Backend(OpKind.Gather, x);
        var sh = x.Shape;
        var (outer, n, inner) = Split3(sh, ax);
        int m = index.Dim(ax);
        using var xc = Dispatch.C(x);
        using var ic = Dispatch.C(index);
        var y = Tensor.Empty(index.Shape, x.DType, x.Device);
        be.Gather(xc, ic, outer, n, m, inner, y);
        return Autograd.Record(y, OpKind.Gather, "Gather", [x], [ic], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var dx = Tensor.Empty(sh, g.DType, g.Device);
            Backends.For(g.Device).ScatterAdd(gc, node.Saved[0]!, outer, n, m, inner, dx);
            return [dx];
        });
    }
}
