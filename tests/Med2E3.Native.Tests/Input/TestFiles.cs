using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Med2E3.Native.Tests.Input;

/// <summary>A temporary directory deleted at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "med2e3-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string p = File(name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Encodes values as raw bytes of a given element type and byte order (independent of the readers).</summary>
internal static class Encode
{
    public static byte[] Values(double[] v, string code, bool bigEndian)
    {
        int size = code[1] - '0';
        var b = new byte[v.Length * size];
        for (int i = 0; i < v.Length; i++)
        {
            var s = b.AsSpan(i * size, size);
            switch (code)
            {
                case "b1": s[0] = v[i] != 0 ? (byte)1 : (byte)0; break;
                case "u1": s[0] = (byte)v[i]; break;
                case "i1": s[0] = (byte)(sbyte)v[i]; break;
                case "i2": BinaryPrimitives.WriteInt16LittleEndian(s, (short)v[i]); break;
                case "u2": BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)v[i]); break;
                case "i4": BinaryPrimitives.WriteInt32LittleEndian(s, (int)v[i]); break;
                case "u4": BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)v[i]); break;
                case "i8": BinaryPrimitives.WriteInt64LittleEndian(s, (long)v[i]); break;
                case "u8": BinaryPrimitives.WriteUInt64LittleEndian(s, (ulong)v[i]); break;
                case "f2": BinaryPrimitives.WriteHalfLittleEndian(s, (Half)v[i]); break;
                case "f4": BinaryPrimitives.WriteSingleLittleEndian(s, (float)v[i]); break;
                case "f8": BinaryPrimitives.WriteDoubleLittleEndian(s, v[i]); break;
                default: throw new ArgumentException(code);
            }

            if (bigEndian)
            {
                s.Reverse();
            }
        }

        return b;
    }

    public static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(raw);
        }

        return ms.ToArray();
    }
}

/// <summary>Builds .npy bytes field by field, so that tests can also make malformed ones.</summary>
internal sealed class NpyBuilder
{
    public int Major { get; set; } = 1;
    public string Header { get; set; } = "";
    public byte[] Data { get; set; } = [];
    public byte[] Magic { get; set; } = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyBuilder For(double[] values, string descr, string shape, bool fortran = false, int major = 1)
    {
        bool big = descr[0] == '>';
        return new NpyBuilder
        {
            Major = major,
            Header = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}",
            Data = Encode.Values(values, descr[1..], big),
        };
    }

    public byte[] Build()
    {
        var ms = new MemoryStream();
        ms.Write(Magic);
        ms.WriteByte((byte)Major);
        ms.WriteByte(0);
        int lenBytes = Major == 1 ? 2 : 4;
        int pre = 8 + lenBytes;
        string h = Header + " ";
        while ((pre + h.Length + 1) % 64 != 0)
        {
            h += " ";
        }

        h += "\n";
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, h.Length);
        ms.Write(len, 0, lenBytes);
        ms.Write(Encoding.UTF8.GetBytes(h));
        ms.Write(Data);
        return ms.ToArray();
    }
}

/// <summary>Builds NIfTI-1 or NIfTI-2 bytes field by field (any byte order), so tests control every header field.</summary>
internal sealed class NiftiBuilder
{
    public int Version { get; set; } = 1;
    public bool BigEndian { get; set; }
    public long[] Dim { get; set; } = [3, 1, 1, 1, 1, 1, 1, 1];
    public short Datatype { get; set; } = 16;
    public short Bitpix { get; set; } = 32;
    public double[] Pixdim { get; set; } = [1, 1, 1, 1, 1, 1, 1, 1];
    public double VoxOffset { get; set; } = -1; // −1: right after the header and the 4 extension bytes
    public double SclSlope { get; set; }
    public double SclInter { get; set; }
    public int QformCode { get; set; }
    public int SformCode { get; set; }
    public double[] Quatern { get; set; } = [0, 0, 0];
    public double[,] Srow { get; set; } = new double[3, 4];
    public string Magic { get; set; } = "";
    public byte[] Data { get; set; } = [];
    public int ExtraBytesBeforeData { get; set; }

    /// <summary>float32 data of size (ni, nj, nk), values in stored order (i fastest).</summary>
    public static NiftiBuilder Float32(double[] values, int ni, int nj, int nk, int version = 1, bool bigEndian = false) => new()
    {
        Version = version,
        BigEndian = bigEndian,
        Dim = [3, ni, nj, nk, 1, 1, 1, 1],
        Data = Encode.Values(values, "f4", bigEndian),
    };

    public int HeaderSize => Version == 1 ? 348 : 540;

    public byte[] Build()
    {
        int hs = HeaderSize;
        long off = VoxOffset >= 0 ? (long)VoxOffset : hs + 4 + ExtraBytesBeforeData;
        var h = new byte[hs + 4 + ExtraBytesBeforeData];
        var w = new Writer(h, BigEndian);
        w.I32(0, hs);
        if (Version == 1)
        {
            for (int i = 0; i < 8; i++)
            {
                w.I16(40 + 2 * i, (short)Dim[i]);
            }

            w.I16(70, Datatype);
            w.I16(72, Bitpix);
            for (int i = 0; i < 8; i++)
            {
                w.F32(76 + 4 * i, (float)Pixdim[i]);
            }

            w.F32(108, VoxOffset >= 0 ? (float)VoxOffset : off);
            w.F32(112, (float)SclSlope);
            w.F32(116, (float)SclInter);
            w.I16(252, (short)QformCode);
            w.I16(254, (short)SformCode);
            for (int i = 0; i < 3; i++)
            {
                w.F32(256 + 4 * i, (float)Quatern[i]);
            }

            for (int i = 0; i < 12; i++)
            {
                w.F32(280 + 4 * i, (float)Srow[i / 4, i % 4]);
            }

            Encoding.ASCII.GetBytes(Magic == "" ? "n+1\0" : Magic).AsSpan(0, 4).CopyTo(h.AsSpan(344));
        }
        else
        {
            Encoding.ASCII.GetBytes(Magic == "" ? "n+2\0\r\n\x1a\n" : Magic).AsSpan(0, 8).CopyTo(h.AsSpan(4));
            w.I16(12, Datatype);
            w.I16(14, Bitpix);
            for (int i = 0; i < 8; i++)
            {
                w.I64(16 + 8 * i, Dim[i]);
                w.F64(104 + 8 * i, Pixdim[i]);
            }

            w.I64(168, off);
            w.F64(176, SclSlope);
            w.F64(184, SclInter);
            w.I32(344, QformCode);
            w.I32(348, SformCode);
            for (int i = 0; i < 3; i++)
            {
                w.F64(352 + 8 * i, Quatern[i]);
            }

            for (int i = 0; i < 12; i++)
            {
                w.F64(400 + 8 * i, Srow[i / 4, i % 4]);
            }
        }

        return [.. h, .. Data];
    }

    private sealed class Writer(byte[] b, bool be)
    {
        public void I16(int at, short v)
        {
            if (be) BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v);
        }

        public void I32(int at, int v)
        {
            if (be) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v);
        }

        public void I64(int at, long v)
        {
            if (be) BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), v);
        }

        public void F32(int at, float v)
        {
            if (be) BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), v);
        }

        public void F64(int at, double v)
        {
            if (be) BinaryPrimitives.WriteDoubleBigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(at), v);
        }
    }
}
