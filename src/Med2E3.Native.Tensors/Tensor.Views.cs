namespace Med2E3.Native.Tensors;

public sealed partial class Tensor
{
    internal Tensor MakeView(int[] shape, int[] strides, long offset, bool register = true)
    {
        var s = Storage;
        s.AddRef();
        return new Tensor(s, DType, shape, strides, offset, register);
    }

    internal Tensor AliasUntracked() => MakeView(_shape, _strides, Offset, register: false);

    internal Tensor AliasNoGrad() => MakeView(_shape, _strides, Offset);

    internal Tensor ContiguousNoGrad(bool register = true) =>
        IsContiguous ? MakeView(_shape, _strides, Offset, register) : ContiguousCopyNoGrad(register);

    internal Tensor ContiguousCopyNoGrad(bool register = true)
    {
        var t = Empty(_shape, DType, Device, register);
        TensorMath.Copy(this, t);
        return t;
    }

    internal Tensor CastNoGrad(DType dtype)
    {
        var t = Empty(_shape, dtype, Device, register: false);
        TensorMath.Copy(this, t);
        return t;
    }

    internal Tensor ExpandNoGrad(int[] shape)
    {
        var (sh, st) = ExpandLayout(shape);
        return MakeView(sh, st, Offset);
    }

    internal Tensor ReshapeNoGrad(int[] shape)
    {
        shape = InferShape(shape);
        var st = ViewStrides(shape);
        if (st is not null) return MakeView(shape, st, Offset);
        using var c = ContiguousCopyNoGrad();
        return c.MakeView(shape, Shapes.ContiguousStrides(shape), c.Offset);
    }

    internal Tensor NarrowNoGrad(int axis, int start, int length)
    {
        axis = Shapes.Axis(axis, Rank, "Narrow");
        if (start < 0 || length < 0 || start + length > _shape[axis])
            throw new ShapeMismatchException("Narrow", _shape, $"range [{start}, {start + length}) outside axis {axis} of size {_shape[axis]}");
        var sh = Shape;
        sh[axis] = length;
        return MakeView(sh, Strides, Offset + (long)start * _strides[axis]);
    }

    private int[] InferShape(int[] shape)
    {
        int infer = -1;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (infer >= 0) throw new ShapeMismatchException("Reshape", shape, "more than one -1");
                infer = i;
            }
            else if (shape[i] < 0) throw new ShapeMismatchException("Reshape", shape, "negative size");
            else known *= shape[i];
        }
        var r = (int[])shape.Clone();
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0)
                throw new ShapeMismatchException("Reshape", _shape, shape, -1, "cannot infer -1");
            r[infer] = (int)(Numel / known);
        }
        if (Shapes.Numel(r) != Numel) throw new ShapeMismatchException("Reshape", _shape, shape, -1, "element count differs");
        return r;
    }

    /// <summary>Strides that view this layout as <paramref name="shape"/> without copying, or null (torch's rule).</summary>
    private int[]? ViewStrides(int[] shape)
    {
        if (IsContiguous) return Shapes.ContiguousStrides(shape);
        if (Numel == 0) return Shapes.ContiguousStrides(shape);
        var ns = new int[shape.Length];
        int viewD = shape.Length - 1;
        long chunkBase = _strides[^1];
        long tensorNumel = 1, viewNumel = 1;
        for (int td = _shape.Length - 1; td >= 0; td--)
        {
            tensorNumel *= _shape[td];
            if (td == 0 || (_shape[td - 1] != 1 && _strides[td - 1] != tensorNumel * chunkBase))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] == 1))
                {
                    ns[viewD] = (int)(viewNumel * chunkBase);
                    viewNumel *= shape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (td > 0)
                {
                    chunkBase = _strides[td - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? ns : null;
    }

    private (int[] Shape, int[] Strides) ExpandLayout(int[] shape)
    {
        if (shape.Length < Rank) throw new ShapeMismatchException("Expand", _shape, shape, -1, "target has fewer axes");
        int lead = shape.Length - Rank;
        var sh = new int[shape.Length];
        var st = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead)
            {
                if (shape[i] < 0) throw new ShapeMismatchException("Expand", _shape, shape, i, "-1 on a new axis");
                sh[i] = shape[i];
                st[i] = 0;
                continue;
            }
            int d = _shape[i - lead];
            int want = shape[i] == -1 ? d : shape[i];
            if (want == d) st[i] = _strides[i - lead];
            else if (d == 1) st[i] = 0;
            else throw new ShapeMismatchException("Expand", _shape, shape, i, "only size-1 axes can expand");
            sh[i] = want;
        }
        return (sh, st);
    }

    private Tensor RecordView(Tensor result, OpKind kind, string name, BackwardFn fn) =>
        Autograd.Record(result, kind, name, [this], [], fn);

    /// <summary>View with a new shape (one axis may be -1). Copies only when the layout cannot be viewed.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var old = Shape;
        var r = ReshapeNoGrad(shape);
        return RecordView(r, OpKind.Reshape, "Reshape", (_, g) => [g.ReshapeNoGrad(old)]);
    }

    /// <summary>Merges axes <paramref name="startAxis"/>..<paramref name="endAxis"/> (inclusive) into one.</summary>
    public Tensor Flatten(int startAxis = 0, int endAxis = -1)
    {
        int s = Shapes.Axis(startAxis, Math.Max(Rank, 1)), e = Shapes.Axis(endAxis, Math.Max(Rank, 1));
        var sh = new List<int>();
        for (int i = 0; i < s; i++) sh.Add(_shape[i]);
        int m = 1;
        for (int i = s; i <= e && i < Rank; i++) m *= _shape[i];
        sh.Add(m);
        for (int i = e + 1; i < Rank; i++) sh.Add(_shape[i]);
        return Reshape(sh.ToArray());
    }

    /// <summary>Inserts a size-1 axis at <paramref name="axis"/> (view).</summary>
    public Tensor Unsqueeze(int axis)
    {
        int a = axis < 0 ? axis + Rank + 1 : axis;
        if (a < 0 || a > Rank) throw new ArgumentOutOfRangeException(nameof(axis), axis, "Tensor.Views.cs: Unsqueeze axis out of range");
        var sh = _shape.ToList();
        var st = _strides.ToList();
        sh.Insert(a, 1);
        st.Insert(a, a < Rank ? _strides[a] * _shape[a] : 1);
        var old = Shape;
        var r = MakeView(sh.ToArray(), st.ToArray(), Offset);
        return RecordView(r, OpKind.Reshape, "Unsqueeze", (_, g) => [g.ReshapeNoGrad(old)]);
    }

    /// <summary>Removes the size-1 axis <paramref name="axis"/> (view).</summary>
    public Tensor Squeeze(int axis)
    {
        int a = Shapes.Axis(axis, Rank, "Squeeze");
        if (_shape[a] != 1) throw new ShapeMismatchException("Squeeze", _shape, $"axis {a} has size {_shape[a]}, not 1");
        var sh = _shape.ToList();
        var st = _strides.ToList();
        sh.RemoveAt(a);
        st.RemoveAt(a);
        var old = Shape;
        var r = MakeView(sh.ToArray(), st.ToArray(), Offset);
        return RecordView(r, OpKind.Reshape, "Squeeze", (_, g) => [g.ReshapeNoGrad(old)]);
    }

    /// <summary>Reorders axes: result axis i is input axis <paramref name="axes"/>[i] (view).</summary>
    public Tensor Permute(params int[] axes)
    {
        if (axes.Length != Rank) throw new ShapeMismatchException("Permute", _shape, axes, -1, "permutation length differs from rank");
        var sh = new int[Rank];
        var st = new int[Rank];
        var inv = new int[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = Shapes.Axis(axes[i], Rank, "Permute");
            if (seen[a]) throw new ShapeMismatchException("Permute", _shape, axes, i, "repeated axis");
            seen[a] = true;
            sh[i] = _shape[a];
            st[i] = _strides[a];
            inv[a] = i;
        }
        var r = MakeView(sh, st, Offset);
        return RecordView(r, OpKind.Permute, "Permute", (_, g) => [g.PermuteNoGrad(inv)]);
    }

    internal Tensor PermuteNoGrad(int[] axes)
    {
        var sh = new int[Rank];
        var st = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            sh[i] = _shape[axes[i]];
            st[i] = _strides[axes[i]];
        }
        return MakeView(sh, st, Offset);
    }

    /// <summary>Swaps two axes (view).</summary>
    public Tensor Transpose(int axisA, int axisB)
    {
        int a = Shapes.Axis(axisA, Rank, "Transpose"), b = Shapes.Axis(axisB, Rank, "Transpose");
        var p = Enumerable.Range(0, Rank).ToArray();
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>Elements [start, start+length) along <paramref name="axis"/> (view).</summary>
    public Tensor Narrow(int axis, int start, int length)
    {
        var r = NarrowNoGrad(axis, start, length);
        var srcShape = Shape;
        int ax = Shapes.Axis(axis, Rank);
        return RecordView(r, OpKind.Narrow, "Narrow", (_, g) =>
        {
            var z = Zeros(srcShape, g.DType, g.Device);
            using var win = z.NarrowNoGrad(ax, start, length);
            TensorMath.Copy(g, win);
            return [z];
        });
    }

    /// <summary>Index <paramref name="index"/> along <paramref name="axis"/>, removing that axis (view).</summary>
    public Tensor Select(int axis, int index)
    {
        int ax = Shapes.Axis(axis, Rank, "Select");
        using var n = Narrow(ax, index, 1);
        return n.Squeeze(ax);
    }

    /// <summary>Broadcasts size-1 axes (and new leading axes) to <paramref name="shape"/>; -1 keeps a size (view).</summary>
    public Tensor Expand(params int[] shape)
    {
        var r = ExpandNoGrad(shape);
        var src = Shape;
        return RecordView(r, OpKind.Expand, "Expand", (_, g) => [TensorMath.SumTo(g, src)]);
    }

    /// <summary>A contiguous tensor with the same values: an alias when already contiguous, else a copy.</summary>
    public Tensor Contiguous()
    {
        var r = ContiguousNoGrad();
        return RecordView(r, OpKind.Copy, "Contiguous", (_, g) => [g.AliasNoGrad()]);
    }

    /// <summary>A new tensor object over the same view (own Dispose); gradients flow through to this tensor.</summary>
    public Tensor Alias()
    {
        var r = AliasNoGrad();
        return RecordView(r, OpKind.Copy, "Alias", (_, g) => [g.AliasNoGrad()]);
    }

    /// <summary>A view of the same data that is cut from the graph (does not require grad).</summary>
    public Tensor Detach() => AliasNoGrad();

    /// <summary>A contiguous copy with its own storage (differentiable).</summary>
    public Tensor Clone()
    {
        var r = ContiguousCopyNoGrad();
        return RecordView(r, OpKind.Copy, "Clone", (_, g) => [g.AliasNoGrad()]);
    }

    /// <summary>
    /// Converts to <paramref name="dtype"/> (bf16/f16 round to nearest even); returns an alias when equal.
    /// Differentiable between float types.
    /// </summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return Alias();
        var r = Empty(_shape, dtype, Device);
        TensorMath.Copy(this, r);
        if (!dtype.IsFloating()) return r;
        var src = DType;
        return RecordView(r, OpKind.Cast, "Cast", (_, g) =>
        {
            var c = Empty(g.Shape, src, g.Device);
            TensorMath.Copy(g, c);
            return [c];
        });
    }

    /// <summary>Copies to <paramref name="device"/> (contiguous); returns an alias when already there.</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return Alias();
        var r = Empty(_shape, DType, device);
        CopyAcrossDevices(this, r);
        var src = Device;
        return RecordView(r, OpKind.Copy, "ToDevice", (_, g) =>
        {
            var c = Empty(g.Shape, g.DType, src);
            CopyAcrossDevices(g, c);
            return [c];
        });
    }

    private static unsafe void CopyAcrossDevices(Tensor src, Tensor dst)
    {
        using var s = src.ContiguousNoGrad(register: false);
        long bytes = s.Numel * s.ElementSize;
        if (s.Device.Kind == DeviceKind.Cpu)
        {
            // SAFETY: s is a contiguous CPU tensor of exactly `bytes` bytes.
            Backends.For(dst.Device).CopyFromHost(new ReadOnlySpan<byte>(s.DataPointer, checked((int)bytes)), dst);
        }
        else if (dst.Device.Kind == DeviceKind.Cpu)
        {
            // SAFETY: dst is a freshly allocated contiguous CPU tensor of `bytes` bytes.
            Backends.For(s.Device).CopyToHost(s, new Span<byte>(dst.DataPointer, checked((int)bytes)));
        }
        else
        {
            using var host = s.To(Device.Cpu);
            CopyAcrossDevices(host, dst);
        }
    }

    /// <summary>
    /// Copies the values of <paramref name="src"/> into this tensor (in place, casting if needed; same shape,
    /// same device). Not recorded by autograd: use it for caches (e.g. the KV cache) and optimiser state.
    /// </summary>
    public void CopyFrom(Tensor src) => TensorMath.Copy(src, this);

    /// <summary>Sets every element to <paramref name="value"/> in place (not recorded by autograd).</summary>
    public void Fill(double value) => TensorMath.Fill(this, value);

    /// <summary>Adds <paramref name="src"/> into this tensor in place (not recorded by autograd).</summary>
    public void AddInPlace(Tensor src) => TensorMath.AddInPlace(this, src);

    /// <summary>
    /// Reverse-mode gradient: seeds d(this) with 1 (one-element tensors) or <paramref name="gradient"/>, runs the
    /// recorded nodes in reverse topological order and accumulates (+=) into <see cref="Grad"/> of every leaf
    /// that requires grad. The graph's saved tensors are freed afterwards.
    /// </summary>
    public void Backward(Tensor? gradient = null) => Autograd.Backward(this, gradient);
}
