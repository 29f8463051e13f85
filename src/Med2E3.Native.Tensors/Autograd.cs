namespace Med2E3.Native.Tensors;

/// <summary>Graph recording for ops, and the reverse-mode engine behind <see cref="Tensor.Backward(Tensor?)"/>.</summary>
public static class Autograd
{
    /// <summary>True when recording is on and any input requires grad.</summary>
    public static bool NeedsGrad(Tensor? a) => NoGradScope.IsGradEnabled && a is not null && a.RequiresGrad;

    /// <summary>True when recording is on and any input requires grad.</summary>
    public static bool NeedsGrad(Tensor? a, Tensor? b) =>
        NoGradScope.IsGradEnabled && ((a?.RequiresGrad ?? false) || (b?.RequiresGrad ?? false));

    /// <summary>True when recording is on and any input requires grad.</summary>
    public static bool NeedsGrad(params ReadOnlySpan<Tensor?> inputs)
    {
        if (!NoGradScope.IsGradEnabled) return false;
        foreach (var t in inputs)
            if (t is not null && t.RequiresGrad) return true;
        return false;
    }

    /// <summary>
    /// Records a node producing <paramref name="output"/> when any input requires grad (otherwise does nothing).
    /// Saved tensors are aliased: the caller keeps ownership of what it passed.
    /// </summary>
    /// <param name="output">The op's result; it becomes a non-leaf with this node as <see cref="Tensor.GradFn"/>.</param>
    /// <param name="kind">Op kind.</param>
    /// <param name="name">Name for messages.</param>
    /// <param name="inputs">The differentiable inputs, in the order the backward delegate returns gradients.</param>
    /// <param name="saved">Tensors the backward needs (inputs, outputs, statistics); nulls are kept as-is.</param>
    /// <param name="backward">The gradient function.</param>
    /// <returns>The output, for chaining.</returns>
    public static Tensor Record(Tensor output, OpKind kind, string name, ReadOnlySpan<Tensor?> inputs,
        ReadOnlySpan<Tensor?> saved, BackwardFn backward)
    {
        if (!NeedsGrad(inputs)) return output;
        var edges = new GradNode?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) edges[i] = inputs[i]?.EdgeNode;
        var keep = new Tensor?[saved.Length];
        for (int i = 0; i < saved.Length; i++) keep[i] = saved[i]?.AliasUntracked();
        var node = new GradNode(kind, name, edges, keep, backward, output.Shape, output.DType, output.Device);
        output.SetGradFn(node);
        return output;
    }

    /// <summary>Reverse-mode pass from <paramref name="root"/> (see <see cref="Tensor.Backward(Tensor?)"/>).</summary>
    public static void Backward(Tensor root, Tensor? gradient)
    {
        var rootNode = root.EdgeNode ?? throw new InvalidOperationException(
            $"Autograd.cs: Backward on {root.Describe()}, which does not require grad");
        Tensor seed;
        if (gradient is null)
        {
            if (root.Numel != 1)
                throw new ShapeMismatchException("Backward", root.ShapeSpan, "an implicit gradient needs a one-element output");
            seed = TensorScope.Detach(Tensor.Full(root.Shape, 1.0, root.DType, root.Device));
        }
        else
        {
            if (!Shapes.Equal(gradient.ShapeSpan, root.ShapeSpan))
                throw new ShapeMismatchException("Backward", root.ShapeSpan, gradient.ShapeSpan, -1, "gradient shape");
            seed = TensorScope.Detach(gradient.AliasNoGrad());
        }

        using var noGrad = new NoGradScope();
        // Kahn's algorithm over the reachable graph: a node runs once all its consumers have contributed.
        var deps = new Dictionary<GradNode, int>(ReferenceEqualityComparer.Instance);
        var visit = new Stack<GradNode>();
        visit.Push(rootNode);
        deps[rootNode] = 0;
        while (visit.Count > 0)
        {
            var n = visit.Pop();
            foreach (var e in n.Edges)
            {
                if (e is null) continue;
                if (deps.TryGetValue(e, out int d)) deps[e] = d + 1;
                else
                {
                    deps[e] = 1;
                    visit.Push(e);
                }
            }
        }

        var grads = new Dictionary<GradNode, Tensor>(ReferenceEqualityComparer.Instance) { [rootNode] = seed };
        var ready = new Stack<GradNode>();
        ready.Push(rootNode);
        try
        {
            while (ready.Count > 0)
            {
                var n = ready.Pop();
                grads.Remove(n, out var g);
                if (n is AccumulateGrad acc)
                {
                    if (g is not null) AccumulateIntoLeaf(acc, g);
                    continue;
                }
                var edges = n.Edges;
                if (g is not null)
                {
                    try
                    {
                        using var scope = TensorScope.Begin();
                        var results = n.Apply(g);
                        if (results.Length != edges.Length)
                            throw new InvalidOperationException($"Autograd.cs: {n.Name} returned {results.Length} gradients for {edges.Length} inputs");
                        var used = new HashSet<Tensor>(ReferenceEqualityComparer.Instance) { g };
                        for (int i = 0; i < edges.Length; i++)
                        {
                            var e = edges[i];
                            var r = results[i];
                            if (e is null || r is null) continue;
                            if (!used.Add(r)) r = r.AliasNoGrad();
                            TensorScope.Detach(r);
                            if (!Shapes.Equal(r.ShapeSpan, e.OutputShape))
                            {
                                r.Dispose();
                                throw new ShapeMismatchException(n.Name + ".Backward", r.ShapeSpan, e.OutputShape, -1,
                                    $"gradient of input {i}");
                            }
                            if (grads.TryGetValue(e, out var prev)) grads[e] = Accumulate(prev, r);
                            else grads[e] = r;
                        }
                    }
                    finally
                    {
                        g.Dispose();
                    }
                }
                n.FreeSaved();
                foreach (var e in edges)
                {
                    if (e is null) continue;
                    if (--deps[e] == 0) ready.Push(e);
                }
            }
        }
        finally
        {
            foreach (var t in grads.Values) t.Dispose();
        }
    }

    private static Tensor Accumulate(Tensor prev, Tensor r)
    {
        if (prev.IsContiguous && prev.Storage.RefCount == 1 && prev.DType == r.DType)
        {
            TensorMath.AddInPlace(prev, r);
            r.Dispose();
            return prev;
        }
        var sum = TensorScope.Detach(prev.ContiguousNoGrad(register: false));
        TensorMath.AddInPlace(sum, r);
        prev.Dispose();
        r.Dispose();
        return sum;
    }

    private static void AccumulateIntoLeaf(AccumulateGrad acc, Tensor g)
    {
        var leaf = acc.Leaf;
        if (leaf is null || leaf.IsDisposed)
        {
            g.Dispose();
            return;
        }
        if (g.DType != leaf.DType)
        {
            var c = g.CastNoGrad(leaf.DType);
            g.Dispose();
            g = c;
        }
        if (leaf.Grad is null)
        {
            if (g.IsContiguous && g.Storage.RefCount == 1)
            {
                leaf.Grad = g;
                return;
            }
            leaf.Grad = g.ContiguousCopyNoGrad(register: false);
            g.Dispose();
            return;
        }
        TensorMath.AddInPlace(leaf.Grad, g);
        g.Dispose();
    }
}
