using System.Buffers.Binary;

namespace Med2E3.Native.Formats.Volumes;

/// <summary>Streams raw voxel bytes into float32, with optional linear scaling, and checks for non-finite values.</summary>
internal static class VoxelDecoder
{
    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Reads an (<paramref name="ni"/>, <paramref name="nj"/>, <paramref name="nk"/>) array stored with i fastest
    /// and writes every voxel straight to its place in <paramref name="dst"/> given by <paramref name="layout"/>, so
    /// that a volume is reordered while it is decoded, without a second full-size array. value = raw · slope +
    /// inter, computed in float64 and rounded once to float32 (<paramref name="scale"/> false: float32
    /// data is copied bit for bit). Unscaled 64-bit integers go through float64 as nibabel's <c>get_fdata</c> does,
    /// or, with <paramref name="roundOnce"/>, straight to float32 as numpy's <c>astype(np.float32)</c> does (the two
    /// differ for integers beyond 2^53 that lie just above half a float32 step).
    /// </summary>
    public static void Read(
        Stream stream, VoxelType type, bool bigEndian, Span<float> dst, CanonicalLayout layout, int ni, int nj, int nk,
        bool scale, double slope, double inter, string path, string where, bool roundOnce = false)
    {
        int size = VoxelTypeInfo.Size(type);
        long total = (long)ni * nj * nk;
        long expected = total * size;
        int perChunk = (int)Math.Min(total, ChunkBytes / size);
        var buffer = new byte[perChunk * size];
        var piece = layout.StrideI == 1 ? null : new float[Math.Min(ni, perChunk)];
        long done = 0;
        while (done < total)
        {
            int count = (int)Math.Min(total - done, perChunk);
            int got = StreamUtil.ReadAtMost(stream, buffer.AsSpan(0, count * size), path);
            if (got < count * size)
            {
                throw new VolumeFormatException(path, Truncated(expected, type, where, done * size + got));
            }

            // The chunk in file order, cut at row ends: each run is part of one stored row (fixed j and k).
            for (int at = 0; at < count;)
            {
                long e = done + at;
                int i = (int)(e % ni);
                long jk = e / ni;
                int run = (int)Math.Min(ni - i, count - at);
                long o = layout.IndexOf(i, (int)(jk % nj), (int)(jk / nj));
                var src = buffer.AsSpan(at * size, run * size);
                if (piece is null)
                {
                    Decode(src, type, bigEndian, dst.Slice((int)o, run), scale, slope, inter, roundOnce);
                }
                else
                {
                    Decode(src, type, bigEndian, piece.AsSpan(0, run), scale, slope, inter, roundOnce);
                    for (int x = 0; x < run; x++, o += layout.StrideI)
                    {
                        dst[(int)o] = piece[x];
                    }
                }

                at += run;
            }

            done += count;
        }
    }

    /// <summary>The problem text for voxel data that ends after <paramref name="have"/> of <paramref name="expected"/> bytes.</summary>
    public static string Truncated(long expected, VoxelType type, string where, long have) =>
        $"truncated data: expected {expected} bytes of {VoxelTypeInfo.Name(type)} voxels {where}, the file ends after {have}";

    private static void Decode(
        ReadOnlySpan<byte> src, VoxelType type, bool be, Span<float> dst, bool scale, double slope, double inter,
        bool roundOnce)
    {
        if (!scale && roundOnce && type is VoxelType.Int64 or VoxelType.UInt64)
        {
            for (int i = 0; i < dst.Length; i++)
            {
                var b = src.Slice(i * 8, 8);
                dst[i] = type == VoxelType.Int64
                    ? be ? BinaryPrimitives.ReadInt64BigEndian(b) : BinaryPrimitives.ReadInt64LittleEndian(b)
                    : be ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b);
            }

            return;
        }

        if (!scale && type == VoxelType.Float32)
        {
            for (int i = 0; i < dst.Length; i++)
            {
                var b = src.Slice(i * 4, 4);
                dst[i] = be ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b);
            }

            return;
        }

        for (int i = 0; i < dst.Length; i++)
        {
            double v = Raw(src, type, be, i);
            dst[i] = scale ? (float)(v * slope + inter) : (float)v;
        }
    }

    private static double Raw(ReadOnlySpan<byte> s, VoxelType type, bool be, int i) => type switch
    {
        VoxelType.Bool => s[i] != 0 ? 1.0 : 0.0,
        VoxelType.UInt8 => s[i],
        VoxelType.Int8 => (sbyte)s[i],
        VoxelType.Int16 => be ? BinaryPrimitives.ReadInt16BigEndian(s.Slice(i * 2)) : BinaryPrimitives.ReadInt16LittleEndian(s.Slice(i * 2)),
        VoxelType.UInt16 => be ? BinaryPrimitives.ReadUInt16BigEndian(s.Slice(i * 2)) : BinaryPrimitives.ReadUInt16LittleEndian(s.Slice(i * 2)),
        VoxelType.Float16 => (double)(be ? BinaryPrimitives.ReadHalfBigEndian(s.Slice(i * 2)) : BinaryPrimitives.ReadHalfLittleEndian(s.Slice(i * 2))),
        VoxelType.Int32 => be ? BinaryPrimitives.ReadInt32BigEndian(s.Slice(i * 4)) : BinaryPrimitives.ReadInt32LittleEndian(s.Slice(i * 4)),
        VoxelType.UInt32 => be ? BinaryPrimitives.ReadUInt32BigEndian(s.Slice(i * 4)) : BinaryPrimitives.ReadUInt32LittleEndian(s.Slice(i * 4)),
        VoxelType.Float32 => be ? BinaryPrimitives.ReadSingleBigEndian(s.Slice(i * 4)) : BinaryPrimitives.ReadSingleLittleEndian(s.Slice(i * 4)),
        VoxelType.Int64 => be ? BinaryPrimitives.ReadInt64BigEndian(s.Slice(i * 8)) : BinaryPrimitives.ReadInt64LittleEndian(s.Slice(i * 8)),
        VoxelType.UInt64 => be ? BinaryPrimitives.ReadUInt64BigEndian(s.Slice(i * 8)) : BinaryPrimitives.ReadUInt64LittleEndian(s.Slice(i * 8)),
        _ => be ? BinaryPrimitives.ReadDoubleBigEndian(s.Slice(i * 8)) : BinaryPrimitives.ReadDoubleLittleEndian(s.Slice(i * 8)),
    };

    /// <summary>
    /// Applies <paramref name="policy"/> to NaN and ±Inf values of a (D, H, W) volume: throws with the counts and the
    /// first position, or zeroes them and returns a warning (null when every value is finite).
    /// </summary>
    public static string? CheckFinite(Span<float> data, int h, int w, NonFinitePolicy policy, string path)
    {
        long nan = 0;
        long inf = 0;
        int first = -1;
        for (int i = 0; i < data.Length; i++)
        {
            float v = data[i];
            if (float.IsFinite(v))
            {
                continue;
            }

            if (float.IsNaN(v))
            {
                nan++;
            }
            else
            {
                inf++;
            }

            if (first < 0)
            {
                first = i;
            }

            if (policy == NonFinitePolicy.ReplaceWithZero)
            {
                data[i] = 0f;
            }
        }

        if (first < 0)
        {
            return null;
        }

        int fd = first / (h * w);
        int fh = first / w % h;
        int fw = first % w;
        string what = $"{nan} NaN and {inf} infinite voxel(s), the first at (d, h, w) = ({fd}, {fh}, {fw})";
        if (policy == NonFinitePolicy.Error)
        {
            throw new VolumeFormatException(path,
                $"{what}; read with NonFinitePolicy.ReplaceWithZero to replace them with 0");
        }

        return $"{what} replaced with 0";
    }
}
