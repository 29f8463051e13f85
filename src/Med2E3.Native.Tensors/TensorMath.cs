using System.Numerics.Tensors;

namespace Med2E3.Native.Tensors;

/// <summary>
/// The few primitives Tensors itself needs (copy with cast, fill, in-place add, sum to a broadcast shape).
/// CPU tensors use the plain loops below; other devices go through their registered <see cref="IBackend"/>.
/// </summary>
internal static unsafe class TensorMath
{
    private const long ParallelThreshold = 1 << 18;

    public static void Copy(Tensor src, Tensor dst)
    {
        if (!Shapes.Equal(src.ShapeSpan, dst.ShapeSpan))
            throw new ShapeMismatchException("Copy", src.ShapeSpan, dst.ShapeSpan, -1);
        if (src.Device != dst.Device) throw new DeviceMismatchException("Copy", src.Device, dst.Device);
        if (src.Device.Kind != DeviceKind.Cpu)
        {
            Backends.For(src.Device).Copy(src, dst);
            return;
        }
        CpuCopy(src, dst);
    }

    public static void CpuCopy(Tensor src, Tensor dst)
    {
        if (src.Numel == 0) return;
        int es = src.ElementSize, ed = dst.ElementSize;
        byte* ps = src.DataPointer;
        byte* pd = dst.DataPointer;
        if (src.IsContiguous && dst.IsContiguous)
        {
            int n = checked((int)src.Numel);
            if (src.DType == dst.DType)
            {
                // SAFETY: both ranges hold Numel contiguous elements of the same size.
                Buffer.MemoryCopy(ps, pd, src.Numel * es, src.Numel * es);
                return;
            }
            if (src.DType == DType.F32 && dst.DType == DType.F64)
            {
                TensorPrimitives.ConvertChecked(new ReadOnlySpan<float>(ps, n), new Span<double>(pd, n));
                return;
            }
            if (src.DType == DType.F64 && dst.DType == DType.F32)
            {
                TensorPrimitives.ConvertTruncating(new ReadOnlySpan<double>(ps, n), new Span<float>(pd, n));
                return;
            }
            if (src.DType == DType.F32 && dst.DType == DType.F16)
            {
                TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(ps, n), new Span<Half>(pd, n));
                return;
            }
            if (src.DType == DType.F16 && dst.DType == DType.F32)
            {
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(ps, n), new Span<float>(pd, n));
                return;
            }
        }
        var it = new StridedIndex(src.ShapeSpan, src.StridesSpan, dst.StridesSpan);
        long outer = it.Outer;
        int inner = it.Inner;
        int sa = it.StrideA[^1], sb = it.StrideB[^1];
        DType ts = src.DType, td = dst.DType;
        void Row(long r)
        {
            it.RowOffsets(r, out long oa, out long ob);
            byte* a = ps + oa * es;
            byte* b = pd + ob * ed;
            if (ts == td)
            {
                switch (es)
                {
                    case 1: for (int i = 0; i < inner; i++) b[(long)i * sb] = a[(long)i * sa]; break;
                    case 2: for (int i = 0; i < inner; i++) ((ushort*)b)[(long)i * sb] = ((ushort*)a)[(long)i * sa]; break;
                    case 4: for (int i = 0; i < inner; i++) ((uint*)b)[(long)i * sb] = ((uint*)a)[(long)i * sa]; break;
                    default: for (int i = 0; i < inner; i++) ((ulong*)b)[(long)i * sb] = ((ulong*)a)[(long)i * sa]; break;
                }
                return;
            }
            for (int i = 0; i < inner; i++) Write(td, b + (long)i * sb * ed, Read(ts, a + (long)i * sa * es));
        }
        if (src.Numel >= ParallelThreshold && outer > 1) Parallel.For(0L, outer, Row);
        else for (long r = 0; r < outer; r++) Row(r);
    }

    public static double Read(DType t, byte* p) => t switch
    {
        DType.F32 => *(float*)p,
        DType.F64 => *(double*)p,
        DType.BF16 => Precision.Bf16ToFloat(*(ushort*)p),
        DType.F16 => (float)*(Half*)p,
        DType.I32 => *(int*)p,
        DType.I64 => *(long*)p,
        DType.Bool => *p != 0 ? 1 : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static void Write(DType t, byte* p, double v)
    {
        switch (t)
        {
            case DType.F32: *(float*)p = (float)v; break;
            case DType.F64: *(double*)p = v; break;
            case DType.BF16: *(ushort*)p = Precision.FloatToBf16((float)v); break;
            case DType.F16: *(Half*)p = (Half)(float)v; break;
            case DType.I32: *(int*)p = (int)v; break;
            case DType.I64: *(long*)p = (long)v; break;
            case DType.Bool: *p = v != 0 ? (byte)1 : (byte)0; break;
            default: throw new ArgumentOutOfRangeException(nameof(t));
        }
    }

    public static void Fill(Tensor dst, double value)
    {
        if (dst.Device.Kind != DeviceKind.Cpu)
        {
            Backends.For(dst.Device).Fill(dst, value);
            return;
        }
        if (dst.Numel == 0) return;
        byte* p = dst.DataPointer;
        int es = dst.ElementSize;
        if (dst.IsContiguous)
        {
            int n = checked((int)dst.Numel);
            switch (dst.DType)
            {
                case DType.F32: new Span<float>(p, n).Fill((float)value); return;
                case DType.F64: new Span<double>(p, n).Fill(value); return;
                case DType.BF16: new Span<ushort>(p, n).Fill(Precision.FloatToBf16((float)value)); return;
                case DType.F16: new Span<Half>(p, n).Fill((Half)(float)value); return;
                case DType.I32: new Span<int>(p, n).Fill((int)value); return;
                case DType.I64: new Span<long>(p, n).Fill((long)value); return;
                default: new Span<byte>(p, n).Fill(value != 0 ? (byte)1 : (byte)0); return;
            }
        }
        var it = new StridedIndex(dst.ShapeSpan, dst.StridesSpan, dst.StridesSpan);
        for (long r = 0; r < it.Outer; r++)
        {
            it.RowOffsets(r, out long oa, out _);
            for (int i = 0; i < it.Inner; i++) Write(dst.DType, p + (oa + (long)i * it.StrideA[^1]) * es, value);
        }
    }

    /// <summary>dst += src (same shape; dst may have zero strides, then contributions accumulate).</summary>
    public static void AddInPlace(Tensor dst, Tensor src)
    {
        if (!Shapes.Equal(src.ShapeSpan, dst.ShapeSpan))
            throw new ShapeMismatchException("AddInPlace", dst.ShapeSpan, src.ShapeSpan, -1);
        if (src.Device != dst.Device) throw new DeviceMismatchException("AddInPlace", dst.Device, src.Device);
        if (dst.Device.Kind != DeviceKind.Cpu)
        {
            Backends.For(dst.Device).Binary(BinaryOp.Add, dst, src, dst);
            return;
        }
        if (src.DType != dst.DType) throw new DTypeMismatchException("AddInPlace", dst.DType, src.DType);
        if (dst.IsContiguous && src.IsContiguous)
        {
            int n = checked((int)dst.Numel);
            if (dst.DType == DType.F32)
            {
                var d = new Span<float>(dst.DataPointer, n);
                TensorPrimitives.Add(d, new ReadOnlySpan<float>(src.DataPointer, n), d);
                return;
            }
            if (dst.DType == DType.F64)
            {
                var d = new Span<double>(dst.DataPointer, n);
                TensorPrimitives.Add(d, new ReadOnlySpan<double>(src.DataPointer, n), d);
                return;
            }
        }
        var it = new StridedIndex(dst.ShapeSpan, dst.StridesSpan, src.StridesSpan);
        byte* pd = dst.DataPointer;
        byte* ps = src.DataPointer;
        int es = dst.ElementSize;
        DType t = dst.DType;
        for (long r = 0; r < it.Outer; r++)
        {
            it.RowOffsets(r, out long oa, out long ob);
            int sa = it.StrideA[^1], sb = it.StrideB[^1];
            if (t == DType.F32)
            {
                float* a = (float*)pd + oa;
                float* b = (float*)ps + ob;
                for (int i = 0; i < it.Inner; i++) a[(long)i * sa] += b[(long)i * sb];
            }
            else if (t == DType.F64)
            {
                double* a = (double*)pd + oa;
                double* b = (double*)ps + ob;
                for (int i = 0; i < it.Inner; i++) a[(long)i * sa] += b[(long)i * sb];
            }
            else
            {
                for (int i = 0; i < it.Inner; i++)
                {
                    byte* a = pd + (oa + (long)i * sa) * es;
                    Write(t, a, Read(t, a) + Read(t, ps + (ob + (long)i * sb) * es));
                }
            }
        }
    }

    /// <summary>Sums <paramref name="g"/> down to <paramref name="shape"/> (the reverse of a broadcast).</summary>
    public static Tensor SumTo(Tensor g, int[] shape)
    {
        if (Shapes.Equal(g.ShapeSpan, shape)) return g.AliasNoGrad();
        var outT = Tensor.Zeros(shape, g.DType, g.Device);
        if (g.Device.Kind == DeviceKind.Cpu)
        {
            using var ex = outT.ExpandNoGrad(g.Shape);
            AddInPlace(ex, g);
            return outT;
        }
        // Device path: reduce axis by axis with the backend's Reduce, then copy into the result.
        var b = Backends.For(g.Device);
        Tensor cur = g.ContiguousNoGrad();
        int lead = g.Rank - shape.Length;
        for (int ax = 0; ax < g.Rank; ax++)
        {
            int target = ax < lead ? 1 : shape[ax - lead];
            if (cur.ShapeSpan[ax] == target) continue;
            var cs = cur.Shape;
            int outer = 1, inner = 1;
            for (int i = 0; i < ax; i++) outer *= cs[i];
            for (int i = ax + 1; i < cs.Length; i++) inner *= cs[i];
            cs[ax] = 1;
            var next = Tensor.Empty(cs, g.DType, g.Device);
            b.Reduce(ReduceOp.Sum, cur, outer, cur.ShapeSpan[ax], inner, next);
            cur.Dispose();
            cur = next;
        }
        using (cur)
        using (var v = cur.ReshapeNoGrad(shape)) Copy(v, outT);
        return outT;
    }
}
