namespace Med2E3.Native.Tensors;

/// <summary>
/// One recorded operation in the reverse-mode tape: the op kind, edges to the nodes of its inputs, the tensors it
/// saved for backward and the backward delegate. Nodes are reference-counted by the tensors they produced and by
/// the nodes downstream; when the count drops to zero the saved tensors are released.
/// </summary>
public class GradNode
{
    private int _refs;
    private Tensor?[]? _saved;
    private GradNode?[] _edges;
    private readonly BackwardFn? _fn;

    internal GradNode(OpKind kind, string name, GradNode?[] edges, Tensor?[] saved, BackwardFn? fn,
        int[] outputShape, DType outputDType, Device outputDevice)
    {
        Kind = kind;
        Name = name;
        _edges = edges;
        _saved = saved;
        _fn = fn;
        OutputShape = outputShape;
        OutputDType = outputDType;
        OutputDevice = outputDevice;
        foreach (var e in edges) e?.AddRef();
    }

    /// <summary>The op that produced the output.</summary>
    public OpKind Kind { get; }

    /// <summary>Name for messages (usually the F method name).</summary>
    public string Name { get; }

    /// <summary>Shape of the output this node produced (and of the gradient it receives).</summary>
    public int[] OutputShape { get; }

    /// <summary>dtype of the output.</summary>
    public DType OutputDType { get; }

    /// <summary>Device of the output.</summary>
    public Device OutputDevice { get; }

    /// <summary>Number of inputs.</summary>
    public int InputCount => _edges.Length;

    /// <summary>True when input <paramref name="i"/> needs a gradient.</summary>
    public bool NeedsInputGrad(int i) => _edges[i] is not null;

    /// <summary>True once backward has run through this node (or it was released).</summary>
    public bool IsFreed => _saved is null;

    /// <summary>The tensors saved at forward time (aliases owned by this node).</summary>
    /// <exception cref="InvalidOperationException">Backward already ran through this node.</exception>
    public IReadOnlyList<Tensor?> Saved =>
        _saved ?? throw new InvalidOperationException($"GradNode.cs: {Name}: saved tensors were freed (Backward called twice?)");

    internal GradNode?[] Edges => _edges;

    internal void AddRef() => _refs++;

    internal virtual Tensor?[] Apply(Tensor gradOutput)
    {
        if (_saved is null) throw new InvalidOperationException($"GradNode.cs: {Name}: graph already freed (Backward called twice?)");
        return _fn!(this, gradOutput);
    }

    internal void FreeSaved()
    {
        var s = _saved;
        _saved = null;
        if (s is null) return;
        foreach (var t in s) t?.Dispose();
    }

    /// <summary>Drops a reference; on the last one frees saved tensors and releases upstream nodes (iteratively).</summary>
    internal void Release()
    {
        var stack = new Stack<GradNode>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (--n._refs > 0) continue;
            n.FreeSaved();
            var edges = n._edges;
            n._edges = new GradNode?[edges.Length];
            foreach (var e in edges)
                if (e is not null) stack.Push(e);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"GradNode {Name} ({Kind})";
}
