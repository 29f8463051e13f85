using System.Buffers.Binary;

namespace Med2E3.Native.Models.Input;

/// <summary>Streams raw voxel bytes into float32, with optional linear scaling, and checks for non-finite values.</summary>
internal static class VoxelDecoder
{
    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Reads <c>dst.Length</c> elements of <paramref name="type"/> from <paramref name="stream"/> in file order.
    /// value = raw · slope + inter, computed in float64 and rounded once to float32 (identity scaling when
    /// <paramref name="scale"/> is false, so float32 data is copied bit for bit).
    /// </summary>
    public static void Read(
        Stream stream, VoxelType type, bool bigEndian, Span<float> dst, bool scale, double slope, double inter,
        string path, string where)
    {
        int size = VoxelTypeInfo.Size(type);
        long expected = (long)dst.Length * size;
        var buffer = new byte[(int)Math.Min(ChunkBytes, expected)];
        long done = 0;
        while (done < dst.Length)
        {
            int count = (int)Math.Min(dst.Length - done, buffer.Length / size);
            int bytes = count * size;
            int got = StreamUtil.ReadAtMost(stream, buffer.AsSpan(0, bytes), path);
            if (got < bytes)
            {
                throw new VolumeFormatException(path, Truncated(expected, type, where, done * size + got));
            }

            Decode(buffer.AsSpan(0, bytes), type, bigEndian, dst.Slice((int)done, count), scale, slope, inter);
            done += count;
        }
    }

    /// <summary>The problem text for voxel data that ends after <paramref name="have"/> of <paramref name="expected"/> bytes.</summary>
    public static string Truncated(long expected, VoxelType type, string where, long have) =>
        $"truncated data: expected {expected} bytes of {VoxelTypeInfo.Name(type)} voxels {where}, the file ends after {have}";

    private static void Decode(
        ReadOnlySpan<byte> src, VoxelType type, bool be, Span<float> dst, bool scale, double slope, double inter)
    {
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
