using System.Runtime.CompilerServices;

namespace Med2E3.Native.Runtime;

/// <summary>
/// The argument list of one kernel launch, built by value on the stack:
/// <c>new KernelArgs().Add(x.Pointer).Add(y.Pointer).Add(n)</c>. Each argument must have exactly the size and type
/// of the kernel parameter (pass <c>long</c> for <c>long long</c>, <c>ulong</c> for pointers, <c>float</c> for
/// <c>float</c>).
/// </summary>
public struct KernelArgs
{
    /// <summary>Most arguments one launch can take.</summary>
    public const int MaxCount = 24;

    /// <summary>Most bytes of argument values one launch can take.</summary>
    public const int MaxBytes = 512;

    private Storage _storage;
    private Offsets _offsets;
    private int _bytes;

    /// <summary>Number of arguments added.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes used by the argument values, including alignment padding.</summary>
    public readonly int ByteCount => _bytes;

    /// <summary>Appends one argument value.</summary>
    /// <typeparam name="T">An unmanaged type of the parameter's size.</typeparam>
    /// <param name="value">The value.</param>
    /// <returns>The list with the argument added (the struct is also modified in place).</returns>
    public unsafe KernelArgs Add<T>(T value)
        where T : unmanaged
    {
        int size = sizeof(T);
        int align = Math.Min(8, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, size)));
        int offset = (_bytes + align - 1) & ~(align - 1);
        if (Count >= MaxCount || offset + size > MaxBytes)
        {
            throw new InvalidOperationException(
                $"kernel argument list is full ({MaxCount} arguments, {MaxBytes} bytes); pass a params struct instead");
        }

        Span<byte> bytes = _storage;
        Unsafe.WriteUnaligned(ref bytes[offset], value);
        _offsets[Count] = (ushort)offset;
        Count++;
        _bytes = offset + size;
        return this;
    }

    /// <summary>Appends the device address of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">A device buffer.</param>
    public KernelArgs Add(DeviceBuffer buffer) => Add(buffer.Pointer);

    /// <summary>
    /// Copies the values into <paramref name="values"/> (at least <see cref="ByteCount"/> bytes) and fills
    /// <paramref name="pointers"/> (at least <see cref="Count"/> entries) with the address of each value.
    /// </summary>
    internal readonly unsafe void CopyTo(byte* values, void** pointers)
    {
        ReadOnlySpan<byte> bytes = _storage;
        bytes[.._bytes].CopyTo(new Span<byte>(values, _bytes));
        for (int i = 0; i < Count; i++)
        {
            pointers[i] = values + _offsets[i];
        }
    }

    [InlineArray(MaxBytes)]
    private struct Storage
    {
        private byte _element;
    }

    [InlineArray(MaxCount)]
    private struct Offsets
    {
        private ushort _element;
    }
}
