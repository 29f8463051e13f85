using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Med2E3.Native.Formats.Checkpoints;

namespace Med2E3.Native.Tests.Weights;

/// <summary>Weight files that claim more than their bytes can hold are refused before a reader allocates the claim.</summary>
public class WeightBoundsTests(ITestOutputHelper log)
{
    /// <summary>
    /// A torch.save zip whose deflated storage of 4 KiB of zeros is declared (pickle, central directory and local
    /// header alike) as 1 GiB: a deflate bomb that cannot even be true.
    /// </summary>
    static byte[] DeflateClaim()
    {
        const long claimed = 1L << 30;
        var b = new TorchZipBuilder();
        b.Storage("0", new byte[4096]);
        b.View("w", "FloatStorage", "0", claimed / 4, 0, [claimed / 4], [1]);
        string path = Path.Combine(Path.GetTempPath(), "med2e3-deflate-" + Guid.NewGuid().ToString("N"));
        try
        {
            b.Write(path, level: CompressionLevel.Optimal);
            byte[] zip = File.ReadAllBytes(path);
            byte[] name = Encoding.ASCII.GetBytes("archive/data/0");
            for (int i = 0; i + 46 < zip.Length; i++)
            {
                uint sig = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i));
                if (sig == 0x02014b50 && zip.AsSpan(i + 46, name.Length).SequenceEqual(name))
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 24), (uint)claimed);    // central directory
                    int local = BinaryPrimitives.ReadInt32LittleEndian(zip.AsSpan(i + 42));
                    BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(local + 22), (uint)claimed); // local header
                }
            }
            return zip;
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ADeflatedStorageClaimingMoreThanDeflateCanProduceIsRefusedAtOpen()
    {
        using var dir = new Input.TempDir();
        string path = dir.Write("pytorch_model.bin", DeflateClaim());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<CheckpointFormatException>(() =>
        {
            foreach (WeightTensor t in TorchCheckpointReader.Read(path).Tensors) t.ToFloat32();
        });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        log.WriteLine($"{e.Message} ({allocated} bytes allocated)");
        Assert.Matches(@"zip entry 'archive/data/0' claims 1073741824 bytes from \d+ compressed bytes, more than deflate can produce$",
            e.Message);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated");
    }
}
