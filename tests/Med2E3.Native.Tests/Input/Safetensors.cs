using System.Buffers.Binary;
using System.Text.Json;

namespace Med2E3.Native.Tests.Input;

/// <summary>Reads one F32 tensor from a .safetensors file (8-byte header length, JSON header, raw little-endian data).</summary>
internal static class Safetensors
{
    public static (long[] Shape, float[] Data) ReadF32(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var t = doc.RootElement.GetProperty(name);
        Assert.Equal("F32", t.GetProperty("dtype").GetString());
        long[] shape = [.. t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64())];
        var offsets = t.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var data = new float[(offsets[1] - offsets[0]) / 4];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + offsets[0] + 4 * i)));
        }

        return (shape, data);
    }
}
