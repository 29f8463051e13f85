using System.Buffers;
using System.Buffers.Binary;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Decodes one frame of DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header with the segment count and offsets, then
/// one PackBits-coded segment per byte of a sample, the most significant byte first.
/// </summary>
internal static class RleDecoder
{
    /// <summary>
    /// Decodes <paramref name="frame"/> into <paramref name="dst"/> (one unsigned container value per pixel, row-major)
    /// for samples of <paramref name="bytesPerSample"/> bytes.
    /// </summary>
    public static void Decode(ReadOnlySpan<byte> frame, int bytesPerSample, Span<double> dst, string path)
    {
        if (frame.Length < 64)
        {
            throw new VolumeFormatException(path, $"RLE frame of {frame.Length} bytes is shorter than its 64-byte header");
        }

        uint segments = BinaryPrimitives.ReadUInt32LittleEndian(frame);
        if (segments != bytesPerSample)
        {
            throw new VolumeFormatException(path,
                $"RLE frame has {segments} segment(s); {bytesPerSample} expected for one {8 * bytesPerSample}-bit sample per pixel");
        }

        var offsets = new long[segments + 1];
        for (int s = 0; s < segments; s++)
        {
            offsets[s] = BinaryPrimitives.ReadUInt32LittleEndian(frame[(4 + 4 * s)..]);
        }

        offsets[segments] = frame.Length;
        var pooled = ArrayPool<byte>.Shared.Rent(dst.Length);
        var plane = pooled.AsSpan(0, dst.Length);
        dst.Clear();
        try
        {
            DecodeSegments(frame, offsets, plane, dst, bytesPerSample, path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pooled);
        }
    }

    private static void DecodeSegments(ReadOnlySpan<byte> frame, long[] offsets, Span<byte> plane, Span<double> dst,
        int bytesPerSample, string path)
    {
        for (int s = 0; s < offsets.Length - 1; s++)
        {
            if (offsets[s] < 64 || offsets[s] > offsets[s + 1] || offsets[s + 1] > frame.Length)
            {
                throw new VolumeFormatException(path, $"RLE segment {s} offset {offsets[s]} is outside the frame");
            }

            Unpack(frame[(int)offsets[s]..(int)offsets[s + 1]], plane, path, s);
            int shift = 8 * (bytesPerSample - 1 - s);
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] += (double)((ulong)plane[i] << shift);
            }
        }
    }

    // PackBits: n in [0, 127] copies n + 1 literal bytes, n in [−127, −1] repeats the next byte 1 − n times, −128 is a no-op.
    private static void Unpack(ReadOnlySpan<byte> src, Span<byte> dst, string path, int segment)
    {
        int i = 0, o = 0;
        while (o < dst.Length && i < src.Length)
        {
            int n = (sbyte)src[i++];
            if (n >= 0)
            {
                int count = n + 1;
                if (i + count > src.Length || o + count > dst.Length)
                {
                    throw new VolumeFormatException(path, $"RLE segment {segment} runs past its data or the frame");
                }

                src.Slice(i, count).CopyTo(dst[o..]);
                i += count;
                o += count;
            }
            else if (n != -128)
            {
                int count = 1 - n;
                if (i >= src.Length || o + count > dst.Length)
                {
                    throw new VolumeFormatException(path, $"RLE segment {segment} runs past its data or the frame");
                }

                dst.Slice(o, count).Fill(src[i++]);
                o += count;
            }
        }

        if (o < dst.Length)
        {
            throw new VolumeFormatException(path, $"RLE segment {segment} decodes to {o} bytes; the frame has {dst.Length} pixels");
        }
    }
}
