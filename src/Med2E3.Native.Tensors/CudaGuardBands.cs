using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tensors;

/// <summary>Which canary band of a guarded storage was overwritten.</summary>
public enum GuardSide
{
    /// <summary>The band just below the usable region (a write at a negative offset).</summary>
    Before,

    /// <summary>The band just past the usable region (a write at or beyond its end).</summary>
    After,
}

/// <summary>
/// An overwritten canary band of a guarded <see cref="CudaStorage"/>: the usable size, the element type when known,
/// the side and the first damaged byte, as a byte offset from the start of the usable region (negative before it).
/// </summary>
/// <param name="Bytes">Usable size of the storage in bytes.</param>
/// <param name="DType">Element type of the tensor the storage was allocated for, when known.</param>
/// <param name="Side">Which band.</param>
/// <param name="Offset">First damaged byte, relative to the start of the usable region.</param>
/// <param name="Expected">The canary byte that should be there.</param>
/// <param name="Actual">The byte found.</param>
public sealed record GuardViolation(long Bytes, DType? DType, GuardSide Side, long Offset, byte Expected, byte Actual)
{
    /// <summary>One line naming the storage size, dtype, side and first differing offset.</summary>
    public override string ToString()
    {
        string type = DType is { } t ? t.Name() : "dtype unknown";
        string side = Side == GuardSide.Before ? "BEFORE" : "AFTER";
        string element = DType is { } d && d.SizeOf() > 0 ? $", element {FloorDiv(Offset, d.SizeOf())}" : "";
        return $"CUDA storage of {Bytes} B ({type}): guard band {side} the usable region overwritten at byte offset "
            + $"{Offset}{element} (0x{Actual:x2} instead of 0x{Expected:x2})";
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}

/// <summary>
/// How the canary bands of a guarded storage are written and read: on the device through its stream, or over host
/// memory in tests.
/// </summary>
public interface IGuardBandMemory
{
    /// <summary>Queues setting <paramref name="count"/> 32-bit words at the 4-byte aligned <paramref name="address"/>.</summary>
    /// <param name="address">Start address (4-byte aligned).</param>
    /// <param name="word">The word value.</param>
    /// <param name="count">Number of words.</param>
    void FillWords(ulong address, uint word, long count);

    /// <summary>Reads <c>destination.Length</c> bytes at <paramref name="address"/>, after all queued work.</summary>
    /// <param name="address">Start address.</param>
    /// <param name="destination">Where the bytes go.</param>
    void Read(ulong address, Span<byte> destination);
}

/// <summary>
/// Canary guard bands around CUDA storages (STYLE.md §9), a test-only opt-in of <see cref="CudaStorage"/>: while
/// <see cref="CudaStorage.GuardBytes"/> is non-zero each rented storage gets <c>band</c> bytes of canary before and
/// after its usable region. The block is laid out as <c>[band | usable | band | pad to 4 B]</c>; the canary is the
/// word <see cref="CanaryWord"/> repeated from the (aligned) block start, so the byte expected at block offset
/// <c>o</c> is <see cref="CanaryByte"/>(o) on both sides, whatever the usable size.
/// </summary>
public static class CudaGuardBands
{
    /// <summary>The band width the conformance harness uses; keeps the usable pointer 256-byte aligned.</summary>
    public const int DefaultBandBytes = 256;

    /// <summary>Alignment every band width must have (the usable pointer stays this aligned).</summary>
    public const int BandAlignment = 256;

    /// <summary>The canary word, little-endian bytes 3C 5A C3 A5: not a value the ops produce in f32, bf16 or i64.</summary>
    public const uint CanaryWord = 0xA5C3_5A3Cu;

    /// <summary>The canary byte expected at <paramref name="blockOffset"/> bytes from the start of the block.</summary>
    /// <param name="blockOffset">Byte offset from the block start (not negative).</param>
    public static byte CanaryByte(long blockOffset) => (byte)(CanaryWord >> (int)(8 * (blockOffset & 3)));

    /// <summary>Throws unless <paramref name="bandBytes"/> is 0 (off) or a positive multiple of <see cref="BandAlignment"/>.</summary>
    /// <param name="bandBytes">Band width in bytes.</param>
    public static void Validate(int bandBytes)
    {
        if (bandBytes < 0 || bandBytes % BandAlignment != 0)
            throw new ArgumentOutOfRangeException(nameof(bandBytes), bandBytes,
                $"CudaGuardBands.cs: guard band width must be 0 or a positive multiple of {BandAlignment} bytes");
    }

    /// <summary>
    /// The layout of a guarded block for <paramref name="usableBytes"/>: the bytes to rent, where the usable region
    /// starts and where the after-band starts (block offsets), and the first word of the after-band fill (the 4-byte
    /// aligned offset at or below its start; the up to 3 bytes in between are uninitialised usable bytes).
    /// </summary>
    /// <param name="usableBytes">Usable size (0 allowed).</param>
    /// <param name="bandBytes">Band width, a positive multiple of <see cref="BandAlignment"/>.</param>
    public static (long RentBytes, long UsableOffset, long AfterOffset, long AfterFillOffset) Layout(long usableBytes, int bandBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(usableBytes);
        Validate(bandBytes);
        ArgumentOutOfRangeException.ThrowIfZero(bandBytes);
        long after = checked(bandBytes + usableBytes);
        long rent = checked(after + bandBytes + 3) & ~3L;
        return (rent, bandBytes, after, after & ~3L);
    }

    /// <summary>Writes the canary of both bands of a block at <paramref name="block"/> (the allocation).</summary>
    /// <param name="memory">Where the block lives.</param>
    /// <param name="block">Address of the block start (at least 4-byte aligned).</param>
    /// <param name="usableBytes">Usable size.</param>
    /// <param name="bandBytes">Band width.</param>
    public static void Fill(IGuardBandMemory memory, ulong block, long usableBytes, int bandBytes)
    {
        var (rent, _, _, afterFill) = Layout(usableBytes, bandBytes);
        memory.FillWords(block, CanaryWord, bandBytes / 4);
        memory.FillWords(block + (ulong)afterFill, CanaryWord, (rent - afterFill) / 4);
    }

    /// <summary>
    /// Reads both bands of a block and returns the first damaged byte (the before-band first), or null when both
    /// still hold the canary.
    /// </summary>
    /// <param name="memory">Where the block lives.</param>
    /// <param name="block">Address of the block start.</param>
    /// <param name="usableBytes">Usable size.</param>
    /// <param name="bandBytes">Band width.</param>
    /// <param name="dtype">Element type, when known (for the report).</param>
    public static GuardViolation? Check(IGuardBandMemory memory, ulong block, long usableBytes, int bandBytes, DType? dtype)
    {
        var (_, _, after, _) = Layout(usableBytes, bandBytes);
        var before = new byte[bandBytes];
        var behind = new byte[bandBytes];
        memory.Read(block, before);
        memory.Read(block + (ulong)after, behind);
        return Check(before, behind, usableBytes, dtype);
    }

    /// <summary>
    /// Compares band contents read back from a block with the canary: <paramref name="before"/> is the band at block
    /// offset 0, <paramref name="after"/> the band at block offset <c>band + usableBytes</c> (both the band's width).
    /// Returns the first damaged byte (the before-band first), or null.
    /// </summary>
    /// <param name="before">The before-band bytes.</param>
    /// <param name="after">The after-band bytes.</param>
    /// <param name="usableBytes">Usable size.</param>
    /// <param name="dtype">Element type, when known (for the report).</param>
    public static GuardViolation? Check(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after, long usableBytes, DType? dtype)
    {
        int band = before.Length;
        if (after.Length != band)
            throw new ArgumentException("CudaGuardBands.cs: both bands must have the same width", nameof(after));
        for (int i = 0; i < band; i++)
        {
            byte want = CanaryByte(i);
            if (before[i] != want)
                return new GuardViolation(usableBytes, dtype, GuardSide.Before, i - band, want, before[i]);
        }

        long start = band + usableBytes;
        for (int i = 0; i < band; i++)
        {
            byte want = CanaryByte(start + i);
            if (after[i] != want)
                return new GuardViolation(usableBytes, dtype, GuardSide.After, usableBytes + i, want, after[i]);
        }

        return null;
    }
}

/// <summary>Guard band memory on a CUDA device, written and read through one stream.</summary>
/// <param name="stream">The stream the storage's work is queued on.</param>
public sealed class StreamGuardMemory(CudaStream stream) : IGuardBandMemory
{
    /// <inheritdoc />
    public void FillWords(ulong address, uint word, long count) => stream.Memset32(address, word, count);

    /// <inheritdoc />
    public void Read(ulong address, Span<byte> destination) => stream.Download(address, destination);
}
