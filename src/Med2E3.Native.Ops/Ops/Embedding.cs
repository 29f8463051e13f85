using System.Numerics;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Ops.Ops;

/// <summary>Embedding lookup y[n, :] = table[ids[n], :]; the gradient scatter-adds rows into the table.</summary>
public static unsafe class Embedding
{
    internal static long Id(Tensor ids, long i) =>
        ids.DType == DType.I64 ? ((long*)ids.DataPointer)[i] : ((int*)ids.DataPointer)[i];

    internal static void CheckIds(Tensor ids, int v, string op)
    {
        for (long i = 0; i < ids.Numel; i++)
        {
            long id = Id(ids, i);
            if (id < 0 || id >= v)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"{op}: index {id} at position {i} outside [0, {v})");
        }
    }

    /// <summary>Reference forward.</summary>
    public static void Reference<T>(T* table, Tensor ids, int c, T* y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Par.For(ids.Numel, 64, (s, e) =>
        {
            for (long n = s; n < e; n++)
                new ReadOnlySpan<T>(table + Id(ids, n) * c, c).CopyTo(new Span<T>(y + n * c, c));
        });
    }

    /// <summary>Reference backward: dtable = 0; dtable[ids[n]] += dy[n] (sequential, so repeated ids add in order).</summary>
    public static void BackwardReference<T>(Tensor ids, T* dy, int v, int c, T* dtable) where T : unmanaged, IFloatingPointIeee754<T>
    {
        new Span<T>(dtable, checked(v * c)).Clear();
        for (long n = 0; n < ids.Numel; n++)
        {
            T* dst = dtable + Id(ids, n) * c;
            for (int i = 0; i < c; i++) dst[i] += dy[n * c + i];
        }
    }

    internal static Tensor Apply(Tensor table, Tensor ids)
    {
        Dispatch.Float("Embedding", table);
        Dispatch.Index("Embedding", ids);
        Dispatch.SameDevice("Embedding", table, ids);
        if (table.Rank != 2) throw new ShapeMismatchException("Embedding", table.ShapeSpan, "table must be (V, C)");
        var be = Dispatch.Backend(OpKind.Embedding, table);
        int v = table.Dim(0), c = table.Dim(1);
        using var tc = Dispatch.C(table);
        using var ic = Dispatch.C(ids);
        var y = Tensor.Empty([.. ids.ShapeSpan, c], table.DType, table.Device);
        be.Embedding(tc, ic, y);
        return Autograd.Record(y, OpKind.Embedding, "Embedding", [table], [ic], (node, g) =>
        {
            using var gc = Dispatch.C(g);
            var d = Tensor.Empty([v, c], g.DType, g.Device);
            Backends.For(g.Device).EmbeddingBackward(node.Saved[0]!, gc, d);
            return [d];
        });
    }
}
