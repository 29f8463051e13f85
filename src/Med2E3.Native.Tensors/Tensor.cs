using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Med2E3.Native.Ops")]

namespace Med2E3.Native.Tensors;

/// <summary>
/// An n-dimensional view (shape, strides, element offset) over reference-counted <see cref="Storage"/>.
/// Tensors are <see cref="IDisposable"/>: dispose what you create, or create it inside a <see cref="TensorScope"/>.
/// Views (<see cref="Reshape"/>, <see cref="Permute"/>, <see cref="Narrow"/>, <see cref="Expand"/>, …) share storage
/// and are tensors of their own that must be disposed too. Autograd: set <see cref="RequiresGrad"/> on leaves; ops
/// record a <see cref="GradNode"/>; <see cref="Backward(Tensor?)"/> accumulates into <see cref="Grad"/>.
/// </summary>
public sealed unsafe partial class Tensor : IDisposable
{
    private readonly int[] _shape;
    private readonly int[] _strides;
    private Storage? _storage;
    private bool _requiresGrad;
    private GradNode? _gradFn;
    private AccumulateGrad? _accumulator;
    private readonly LeakTracker? _tracker;
    internal TensorScope? Scope;

    internal Tensor(Storage storage, DType dtype, int[] shape, int[] strides, long offset, bool register = true)
    {
        _storage = storage;
        DType = dtype;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        Numel = Shapes.Numel(shape);
        _tracker = TensorStats.OnCreate();
        if (register) TensorScope.Register(this);
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Device of the storage.</summary>
    public Device Device => Storage.Device;

    /// <summary>A copy of the shape.</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>A copy of the element strides.</summary>
    public int[] Strides => (int[])_strides.Clone();

    /// <summary>Shape without copying (do not mutate).</summary>
    public ReadOnlySpan<int> ShapeSpan => _shape;

    /// <summary>Strides without copying.</summary>
    public ReadOnlySpan<int> StridesSpan => _strides;

    /// <summary>Element offset of element [0, …, 0] in the storage.</summary>
    public long Offset { get; }

    /// <summary>Number of axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public long Numel { get; }

    /// <summary>Size of axis <paramref name="axis"/> (negative counts from the end).</summary>
    public int Dim(int axis) => _shape[Shapes.Axis(axis, _shape.Length)];

    /// <summary>The storage (throws if disposed).</summary>
    public Storage Storage => _storage ?? throw new TensorDisposedException(Describe());

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>Optional name for messages (e.g. a checkpoint key).</summary>
    public string? Name { get; set; }

    /// <summary>Dense row-major from <see cref="Offset"/> (size-1 axes may have any stride).</summary>
    public bool IsContiguous
    {
        get
        {
            long expect = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] == 1) continue;
                if (_strides[i] != expect) return false;
                expect *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>
    /// Whether gradients flow to this tensor. Settable on leaves only; results of ops on tensors that require grad
    /// report true.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad || _gradFn is not null;
        set
        {
            if (_gradFn is not null)
                throw new InvalidOperationException("Tensor.cs: RequiresGrad can only be set on a leaf; use Detach()");
            if (value && !DType.IsFloating())
                throw new DTypeMismatchException("RequiresGrad", DType, DType.F32, "only float tensors can require grad");
            _requiresGrad = value;
        }
    }

    /// <summary>The node that produced this tensor, or null for a leaf.</summary>
    public GradNode? GradFn => _gradFn;

    /// <summary>True when not produced by a recorded op.</summary>
    public bool IsLeaf => _gradFn is null;

    /// <summary>Accumulated gradient of a leaf (owned by this tensor; disposed with it).</summary>
    public Tensor? Grad { get; internal set; }

    /// <summary>Drops the accumulated gradient.</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    internal void SetGradFn(GradNode node)
    {
        node.AddRef();
        _gradFn?.Release();
        _gradFn = node;
    }

    /// <summary>The node gradients flow into: the producer, or the leaf's accumulator. Null if no grad.</summary>
    internal GradNode? EdgeNode
    {
        get
        {
            if (_gradFn is not null) return _gradFn;
            if (!_requiresGrad) return null;
            if (_accumulator is null)
            {
                _accumulator = new AccumulateGrad(this);
                _accumulator.AddRef();
            }
            return _accumulator;
        }
    }

    /// <summary>Bytes per element.</summary>
    public int ElementSize => DType.SizeOf();

    /// <summary>Host address of element [0, …, 0] (CPU tensors only).</summary>
    /// <exception cref="DeviceMismatchException">The tensor is not on the CPU.</exception>
    public byte* DataPointer
    {
        get
        {
            if (Storage is not CpuStorage cs) throw new DeviceMismatchException("DataPointer", Device, Device.Cpu);
            // SAFETY: Offset lies inside the storage because every view constructor checks its extent.
            return cs.Pointer + Offset * ElementSize;
        }
    }

    /// <summary>Span over the elements of a contiguous CPU tensor.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not contiguous.</exception>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        if (!IsContiguous) throw new InvalidOperationException($"Tensor.cs: AsSpan needs a contiguous tensor, got {Describe()}");
        CheckElementType<T>("AsSpan");
        // SAFETY: contiguous, so Numel elements from DataPointer lie inside the storage.
        return new Span<T>(DataPointer, checked((int)Numel));
    }

    internal void CheckElementType<T>(string op) where T : unmanaged
    {
        if (sizeof(T) != ElementSize || (DTypeExtensions.Of<T>() != DType && !(DType == DType.BF16 && typeof(T) == typeof(ushort))))
            throw new DTypeMismatchException(op, DType, DTypeExtensions.Of<T>(), $"element type {typeof(T).Name}");
    }

    /// <summary>"f32(2, 3) cpu" plus the name if set.</summary>
    public string Describe() => $"{(Name is null ? "" : Name + " ")}{DType.Name()}{Shapes.Format(_shape)} {(_storage is null ? "disposed" : _storage.Device.ToString())}";

    /// <inheritdoc />
    public override string ToString() => $"Tensor {Describe()}";

    /// <summary>Releases the storage reference, the gradient and the autograd node reference. Idempotent.</summary>
    public void Dispose()
    {
        var s = _storage;
        if (s is null) return;
        _storage = null;
        s.Release();
        Grad?.Dispose();
        Grad = null;
        _gradFn?.Release();
        _gradFn = null;
        if (_accumulator is not null)
        {
            _accumulator.Leaf = null;
            _accumulator.Release();
            _accumulator = null;
        }
        TensorStats.OnDispose(_tracker);
#if DEBUG
        GC.SuppressFinalize(this);
#endif
    }

#if DEBUG
    /// <summary>Debug builds record (never free) tensors that were not disposed.</summary>
    ~Tensor()
    {
        if (_storage is not null) TensorStats.OnFinalizedLeak();
    }
#endif
}
