using System.Buffers.Binary;
using System.Text;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Formats.Checkpoints;

/// <summary>
/// A small pickle virtual machine that understands exactly what <c>torch.save</c> of a state dict writes and
/// nothing more. Every global is checked against an allow-list when the GLOBAL opcode is read, before any call,
/// so a hostile file (e.g. <c>os.system</c> + REDUCE) is refused without side effects. Objects are plain data:
/// tuples, lists, dicts, strings, numbers, storage references and tensor descriptions.
/// </summary>
internal sealed class RestrictedUnpickler
{
    internal sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    internal sealed class None
    {
        public static readonly None Instance = new();
        public override string ToString() => "None";
    }

    internal sealed record Global(string Module, string Name)
    {
        public string FullName => Module + "." + Name;
    }

    internal sealed record Tuple(object[] Items);

    internal sealed class Dict
    {
        // Keys are strings, integers or booleans, which compare by value; the index keeps inserts O(1) so a
        // hostile pickle with millions of keys cannot make loading quadratic.
        private readonly Dictionary<object, int> _index = [];

        public List<KeyValuePair<object, object>> Items { get; } = [];

        public void Set(object key, object value)
        {
            if (_index.TryGetValue(key, out int at))
            {
                Items[at] = new KeyValuePair<object, object>(key, value);
                return;
            }
            _index[key] = Items.Count;
            Items.Add(new KeyValuePair<object, object>(key, value));
        }
    }

    internal sealed record StorageRef(StorageDType DType, string Key, long Numel, string Location);

    internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride);

    private sealed record Layout(string Name);

    private sealed record Device(string Name);

    private const int MaxStack = 1 << 20;
    private const int MaxMemo = 1 << 22;
    private const int MaxRank = 32;

    private static readonly HashSet<string> Callables =
    [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.serialization._get_layout",
        "torch.device",
    ];

    private static readonly HashSet<string> StorageClasses =
    [
        "FloatStorage", "BFloat16Storage", "HalfStorage", "DoubleStorage", "LongStorage", "IntStorage",
        "BoolStorage", "ByteStorage",
    ];

    private readonly string _path;
    private readonly byte[] _data;
    private int _pos;
    private readonly List<object> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object> _memo = [];

    private RestrictedUnpickler(string path, byte[] data)
    {
        _path = path;
        _data = data;
    }

    /// <summary>Runs the pickle program and returns the object it builds.</summary>
    public static object Load(string path, byte[] data) => new RestrictedUnpickler(path, data).Run();

    /// <summary>True when <c>module.name</c> is on the allow-list.</summary>
    public static bool IsAllowed(string module, string name) =>
        Callables.Contains(module + "." + name) || (module == "torch" && StorageClasses.Contains(name));

    private CheckpointFormatException Error(string problem) =>
        new(_path, $"pickle byte {_pos}: {problem}");

    private object Run()
    {
        while (true)
        {
            if (_pos >= _data.Length)
            {
                throw Error("pickle ends without STOP (truncated?)");
            }
            int opAt = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    if (ReadByte() > 5)
                    {
                        throw Error("pickle protocol newer than 5");
                    }
                    break;
                case 0x95: // FRAME: a length hint only
                    ReadBytes(8);
                    break;
                case (byte)'.': // STOP
                    if (_stack.Count != 1)
                    {
                        throw Error($"STOP with {_stack.Count} objects on the stack");
                    }
                    return _stack[0];
                case (byte)'c': // GLOBAL
                {
                    string module = ReadLine();
                    string name = ReadLine();
                    Push(MakeGlobal(module, name));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    string name = PopAs<string>("STACK_GLOBAL name");
                    string module = PopAs<string>("STACK_GLOBAL module");
                    Push(MakeGlobal(module, name));
                    break;
                }
                case (byte)'Q': // BINPERSID
                    Push(PersistentLoad(Pop()));
                    break;
                case (byte)'X': // BINUNICODE
                    Push(ReadUtf8(ReadUInt32()));
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    Push(ReadUtf8(ReadByte()));
                    break;
                case 0x8d: // BINUNICODE8
                    Push(ReadUtf8(ReadInt64Length()));
                    break;
                case (byte)'T': // BINSTRING (Python 2 str)
                    Push(Encoding.Latin1.GetString(ReadBytes(ReadUInt32())));
                    break;
                case (byte)'U': // SHORT_BINSTRING
                    Push(Encoding.Latin1.GetString(ReadBytes(ReadByte())));
                    break;
                case (byte)'B': // BINBYTES
                    Push(ReadBytes(ReadUInt32()).ToArray());
                    break;
                case (byte)'C': // SHORT_BINBYTES
                    Push(ReadBytes(ReadByte()).ToArray());
                    break;
                case (byte)'J': // BININT
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)));
                    break;
                case (byte)'K': // BININT1
                    Push((long)ReadByte());
                    break;
                case (byte)'M': // BININT2
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2)));
                    break;
                case 0x8a: // LONG1
                    Push(ReadLong(ReadByte()));
                    break;
                case 0x8b: // LONG4
                    Push(ReadLong(ReadUInt32()));
                    break;
                case (byte)'G': // BINFLOAT (big-endian)
                    Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8)));
                    break;
                case 0x88: // NEWTRUE
                    Push(true);
                    break;
                case 0x89: // NEWFALSE
                    Push(false);
                    break;
                case (byte)'N': // NONE
                    Push(None.Instance);
                    break;
                case (byte)'(': // MARK
                    if (_marks.Count >= MaxStack)
                    {
                        throw Error("too many nested marks");
                    }
                    _marks.Push(_stack.Count);
                    break;
                case (byte)')': // EMPTY_TUPLE
                    Push(new Tuple([]));
                    break;
                case (byte)'t': // TUPLE
                    Push(new Tuple(PopToMark().ToArray()));
                    break;
                case 0x85: // TUPLE1
                {
                    object a = Pop();
                    Push(new Tuple([a]));
                    break;
                }
                case 0x86: // TUPLE2
                {
                    object b = Pop();
                    object a = Pop();
                    Push(new Tuple([a, b]));
                    break;
                }
                case 0x87: // TUPLE3
                {
                    object c = Pop();
                    object b = Pop();
                    object a = Pop();
                    Push(new Tuple([a, b, c]));
                    break;
                }
                case (byte)']': // EMPTY_LIST
                    Push(new List<object>());
                    break;
                case (byte)'l': // LIST
                    Push(PopToMark());
                    break;
                case (byte)'a': // APPEND
                {
                    object v = Pop();
                    PeekAs<List<object>>("APPEND target").Add(v);
                    break;
                }
                case (byte)'e': // APPENDS
                {
                    List<object> items = PopToMark();
                    PeekAs<List<object>>("APPENDS target").AddRange(items);
                    break;
                }
                case (byte)'}': // EMPTY_DICT
                    Push(new Dict());
                    break;
                case (byte)'d': // DICT
                {
                    List<object> items = PopToMark();
                    Push(FillDict(new Dict(), items));
                    break;
                }
                case (byte)'s': // SETITEM
                {
                    object v = Pop();
                    object k = Pop();
                    PeekAs<Dict>("SETITEM target").Set(CheckKey(k), v);
                    break;
                }
                case (byte)'u': // SETITEMS
                {
                    List<object> items = PopToMark();
                    FillDict(PeekAs<Dict>("SETITEMS target"), items);
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    Tuple args = PopAs<Tuple>("REDUCE arguments");
                    Global callable = PopAs<Global>("REDUCE callable");
                    Push(Call(callable, args.Items));
                    break;
                }
                case (byte)'b': // BUILD
                {
                    object state = Pop();
                    object target = Peek();
                    // OrderedDict state is its attribute dict (e.g. _metadata); tensors may carry empty state.
                    // Neither changes the tensors, so the state is dropped after a type check.
                    if (target is not Dict && target is not TensorRef)
                    {
                        throw Error($"BUILD on a {Describe(target)}");
                    }
                    _ = state;
                    break;
                }
                case (byte)'q': // BINPUT
                    MemoPut(ReadByte());
                    break;
                case (byte)'r': // LONG_BINPUT
                    MemoPut(ReadUInt32());
                    break;
                case 0x94: // MEMOIZE
                    MemoPut(_memo.Count);
                    break;
                case (byte)'h': // BINGET
                    Push(MemoGet(ReadByte()));
                    break;
                case (byte)'j': // LONG_BINGET
                    Push(MemoGet(ReadUInt32()));
                    break;
                case (byte)'0': // POP
                    if (_marks.Count > 0 && _marks.Peek() == _stack.Count)
                    {
                        _marks.Pop();
                    }
                    else
                    {
                        Pop();
                    }
                    break;
                case (byte)'1': // POP_MARK
                    PopToMark();
                    break;
                case (byte)'2': // DUP
                    Push(Peek());
                    break;
                default:
                    _pos = opAt;
                    throw Error($"opcode 0x{op:x2} ('{(op is >= 32 and < 127 ? (char)op : '?')}') is not " +
                                "allowed in a state dict pickle");
            }
        }
    }

    private Global MakeGlobal(string module, string name)
    {
        if (!IsAllowed(module, name))
        {
            throw new UnsafePickleException(_path, module + "." + name);
        }
        return new Global(module, name);
    }

    private object PersistentLoad(object pid)
    {
        // ('storage', <torch.XStorage>, key, location, numel)
        if (pid is not Tuple { Items.Length: 5 } t || t.Items[0] is not "storage")
        {
            throw Error($"unexpected persistent id {Describe(pid)}");
        }
        if (t.Items[1] is not Global { Module: "torch" } g || !StorageClasses.Contains(g.Name) ||
            !StorageDTypes.TryParseTorchStorage(g.Name, out StorageDType dtype))
        {
            throw Error($"persistent id names {Describe(t.Items[1])} instead of a typed storage");
        }
        if (t.Items[2] is not string key || key.Length == 0 || key.Length > 256)
        {
            throw Error("storage key is not a short string");
        }
        if (t.Items[3] is not string location)
        {
            throw Error("storage location is not a string");
        }
        if (t.Items[4] is not long numel || numel < 0)
        {
            throw Error($"storage {InputText.Quote(key)} has an invalid element count {Describe(t.Items[4])}");
        }
        return new StorageRef(dtype, key, numel, location);
    }

    private object Call(Global callable, object[] args)
    {
        switch (callable.FullName)
        {
            case "collections.OrderedDict":
                if (args.Length == 0)
                {
                    return new Dict();
                }
                if (args.Length == 1 && args[0] is List<object> pairs)
                {
                    var d = new Dict();
                    foreach (object p in pairs)
                    {
                        if (p is not Tuple { Items.Length: 2 } kv)
                        {
                            throw Error("OrderedDict argument is not a list of pairs");
                        }
                        d.Set(CheckKey(kv.Items[0]), kv.Items[1]);
                    }
                    return d;
                }
                throw Error("OrderedDict called with unexpected arguments");
            case "torch._utils._rebuild_tensor_v2":
                return RebuildTensor(args);
            case "torch._utils._rebuild_parameter":
                if (args.Length != 3 || args[0] is not TensorRef tensor)
                {
                    throw Error("_rebuild_parameter called with unexpected arguments");
                }
                return tensor;
            case "torch.serialization._get_layout":
                if (args.Length != 1 || args[0] is not "torch.strided")
                {
                    throw Error($"only the strided layout is supported, got {Describe(args.FirstOrDefault())}");
                }
                return new Layout("torch.strided");
            case "torch.device":
                if (args.Length is < 1 or > 2 || args[0] is not string device)
                {
                    throw Error("torch.device called with unexpected arguments");
                }
                return new Device(device);
            default:
                throw Error($"{InputText.Quote(callable.FullName)} cannot be called");
        }
    }

    private TensorRef RebuildTensor(object[] args)
    {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.Length is < 6 or > 7 || args[0] is not StorageRef storage || args[1] is not long offset ||
            args[2] is not Tuple size || args[3] is not Tuple stride || args[4] is not bool)
        {
            throw Error("_rebuild_tensor_v2 called with unexpected arguments");
        }
        if (size.Items.Length != stride.Items.Length || size.Items.Length > MaxRank)
        {
            throw Error($"tensor in storage {InputText.Quote(storage.Key)} has {size.Items.Length} sizes and " +
                        $"{stride.Items.Length} strides");
        }
        var sizes = new long[size.Items.Length];
        var strides = new long[size.Items.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            if (size.Items[i] is not long s || stride.Items[i] is not long st)
            {
                throw Error($"tensor in storage {InputText.Quote(storage.Key)} has a non-integer size or stride");
            }
            sizes[i] = s;
            strides[i] = st;
        }
        return new TensorRef(storage, offset, sizes, strides);
    }

    private object CheckKey(object key) =>
        key is string or long or bool ? key : throw Error($"dict key is a {Describe(key)}");

    private Dict FillDict(Dict dict, List<object> items)
    {
        if (items.Count % 2 != 0)
        {
            throw Error("odd number of items for a dict");
        }
        for (int i = 0; i < items.Count; i += 2)
        {
            if (items[i] is not (string or long or bool))
            {
                throw Error($"dict key is a {Describe(items[i])}");
            }
            dict.Set(items[i], items[i + 1]);
        }
        return dict;
    }

    private static string Describe(object? o) => o switch
    {
        null => "nothing",
        string s => $"string {InputText.Quote((s.Length > 40 ? s[..40] + "…" : s))}",
        long l => $"integer {l}",
        Global g => $"global {g.FullName}",
        Tuple t => $"tuple of {t.Items.Length}",
        Dict => "dict",
        List<object> => "list",
        TensorRef => "tensor",
        StorageRef => "storage",
        _ => o.GetType().Name,
    };

    private void Push(object o)
    {
        if (_stack.Count >= MaxStack)
        {
            throw Error("pickle stack too deep");
        }
        _stack.Add(o);
    }

    private object Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count))
        {
            throw Error("pop from an empty stack");
        }
        object o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    private object Peek()
    {
        if (_stack.Count == 0)
        {
            throw Error("peek at an empty stack");
        }
        return _stack[^1];
    }

    private T PopAs<T>(string what) where T : class =>
        Pop() as T ?? throw Error($"{what} has the wrong type");

    private T PeekAs<T>(string what) where T : class =>
        Peek() as T ?? throw Error($"{what} has the wrong type ({Describe(Peek())})");

    private List<object> PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw Error("no MARK on the stack");
        }
        int at = _marks.Pop();
        List<object> items = _stack.GetRange(at, _stack.Count - at);
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private void MemoPut(long index)
    {
        if (_memo.Count >= MaxMemo && !_memo.ContainsKey(index))
        {
            throw Error("pickle memo too large");
        }
        _memo[index] = Peek();
    }

    private object MemoGet(long index) =>
        _memo.TryGetValue(index, out object? o) ? o : throw Error($"memo slot {index} is empty");

    private byte ReadByte()
    {
        if (_pos >= _data.Length)
        {
            throw Error("pickle ends inside an opcode (truncated?)");
        }
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> ReadBytes(long n)
    {
        if (n < 0 || n > _data.Length - _pos)
        {
            throw Error("pickle ends inside an opcode (truncated?)");
        }
        var span = new ReadOnlySpan<byte>(_data, _pos, (int)n);
        _pos += (int)n;
        return span;
    }

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    private long ReadInt64Length()
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));
        return n > int.MaxValue ? -1 : (long)n;
    }

    private string ReadUtf8(long n)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(ReadBytes(n));
        }
        catch (DecoderFallbackException)
        {
            throw Error("string is not valid UTF-8");
        }
    }

    private string ReadLine()
    {
        int start = _pos;
        int end = Array.IndexOf(_data, (byte)'\n', start, Math.Min(256, _data.Length - start));
        if (end < 0)
        {
            throw Error("GLOBAL name not terminated (truncated?)");
        }
        _pos = end + 1;
        return Encoding.ASCII.GetString(_data, start, end - start);
    }

    private long ReadLong(long n)
    {
        ReadOnlySpan<byte> b = ReadBytes(n);
        if (n == 0)
        {
            return 0;
        }
        if (n > 8)
        {
            throw Error($"integer of {n} bytes is too large");
        }
        // Two's complement, little-endian, sign-extended from the last byte.
        long v = (b[^1] & 0x80) != 0 ? -1L : 0L;
        for (int i = (int)n - 1; i >= 0; i--)
        {
            v = (v << 8) | b[i];
        }
        return v;
    }
}
