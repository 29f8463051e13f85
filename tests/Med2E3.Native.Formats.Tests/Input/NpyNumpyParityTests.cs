using System.Text.Json;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Tests.Input;

/// <summary>
/// Every file of <c>tests/data/volumes/numpy/</c>, written by numpy itself, read as <c>np.load(f).astype(np.float32)</c>
/// reads it, voxel for voxel; the files a volume reader must refuse are refused with a message that names why. The
/// expected values were written by numpy (<c>scripts/oracles/npy_numpy.py</c>), not by this code.
/// </summary>
public class NpyNumpyParityTests(ITestOutputHelper output)
{
    private static readonly string Dir = Path.Combine(TestData.Root, "volumes", "numpy");

    private static JsonElement Expected() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json"))).RootElement;

    [Fact]
    public void EveryFileMatchesNumpy()
    {
        double maxDiff = 0;
        int files = 0;
        foreach (var c in Expected().GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("file").GetString()!;
            int[] shape = [.. c.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32())];
            float[] values = [.. c.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble())];
            var v = VolumeReader.Read(Path.Combine(Dir, name));
            Assert.Equal(VolumeFileFormat.Npy, v.Format);
            Assert.Equal((shape[0], shape[1], shape[2]), (v.Depth, v.Height, v.Width));
            for (int i = 0; i < values.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs((double)v.Data[i] - values[i]));
                Assert.True(BitConverter.SingleToInt32Bits(values[i]) == BitConverter.SingleToInt32Bits(v.Data[i]),
                    $"{name}: voxel {i} is {v.Data[i]:R}, numpy {values[i]:R}");
            }

            files++;
        }

        Assert.Equal(50, files);
        output.WriteLine($"{files} .npy files identical to numpy bit for bit, max |voxel − numpy| = {maxDiff}");
    }

    [Fact]
    public void FilesNumpyWritesButAVolumeIsNotAreRefusedByName()
    {
        foreach (var c in Expected().GetProperty("refused").EnumerateArray())
        {
            string path = Path.Combine(Dir, c.GetProperty("file").GetString()!);
            var e = Assert.Throws<VolumeFormatException>(() => VolumeReader.Read(path));
            Assert.StartsWith(c.GetProperty("message").GetString()!, e.Problem);
        }
    }
}
