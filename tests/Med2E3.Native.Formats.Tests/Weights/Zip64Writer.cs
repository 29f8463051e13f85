using System.Buffers.Binary;
using System.Text;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// Writes a stored zip whose central directory uses zip64 fields for every size and offset, as writers do for
/// archives over 4 GiB (the real LLM checkpoint is 7.6 GB), and optionally pads each entry's data to 64 bytes
/// through the local extra field, as PyTorch does.
/// </summary>
internal static class Zip64Writer
{
    public static void Write(string path, IEnumerable<(string Name, byte[] Data)> entries, int align = 64)
    {
        using var f = new FileStream(path, FileMode.Create);
        var central = new MemoryStream();
        int count = 0;
        foreach ((string name, byte[] data) in entries)
        {
            byte[] n = Encoding.UTF8.GetBytes(name);
            long lho = f.Position;
            int pad = (int)((align - (lho + 30 + n.Length + 4) % align) % align);
            uint crc = Crc(data);
            var local = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(14), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(18), (uint)data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(22), (uint)data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(26), (ushort)n.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(28), (ushort)(4 + pad));
            f.Write(local);
            f.Write(n);
            var padField = new byte[4 + pad];
            BinaryPrimitives.WriteUInt16LittleEndian(padField, 0x4b46); // an unknown extra id, ignored by readers
            BinaryPrimitives.WriteUInt16LittleEndian(padField.AsSpan(2), (ushort)pad);
            f.Write(padField);
            f.Write(data);

            var c = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(6), 45);
            BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(20), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(24), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(28), (ushort)n.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(30), 28);
            BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(42), 0xFFFFFFFF);
            central.Write(c);
            central.Write(n);
            var z = new byte[28];
            BinaryPrimitives.WriteUInt16LittleEndian(z, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(z.AsSpan(2), 24);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(4), data.Length);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(12), data.Length);
            BinaryPrimitives.WriteInt64LittleEndian(z.AsSpan(20), lho);
            central.Write(z);
            count++;
        }
        long cdOffset = f.Position;
        f.Write(central.ToArray());
        long z64 = f.Position;
        var rec = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(rec, 0x06064b50);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt16LittleEndian(rec.AsSpan(12), 45);
        BinaryPrimitives.WriteUInt16LittleEndian(rec.AsSpan(14), 45);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(24), count);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(32), count);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(40), central.Length);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(48), cdOffset);
        f.Write(rec);
        var loc = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(loc, 0x07064b50);
        BinaryPrimitives.WriteInt64LittleEndian(loc.AsSpan(8), z64);
        BinaryPrimitives.WriteUInt32LittleEndian(loc.AsSpan(16), 1);
        f.Write(loc);
        var eocd = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(eocd, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd.AsSpan(8), 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd.AsSpan(10), 0xFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd.AsSpan(12), 0xFFFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd.AsSpan(16), 0xFFFFFFFF);
        f.Write(eocd);
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }
        return ~crc;
    }
}
