using System.IO.Compression;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Tests.Input;

public class SampleVolumesTests
{
    private static byte[] Decoded(string path)
    {
        var raw = File.ReadAllBytes(path);
        if (raw.Length < 2 || raw[0] != 0x1F || raw[1] != 0x8B)
        {
            return raw;
        }

        using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
        var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    [Fact]
    public void CommittedTestSamplesAreWhatTheGeneratorWrites()
    {
        // Set MED2E3_REGENERATE_SAMPLES=1 to rewrite tests/data/volumes and the embedded demo from the generator.
        if (Environment.GetEnvironmentVariable("MED2E3_REGENERATE_SAMPLES") == "1")
        {
            SampleVolumes.WriteTestSamples(Path.Combine(TestData.Root, "volumes"));
            SampleVolumes.WriteDemo(Path.Combine(TestData.Root, "..", "..", "src", "Med2E3.Native.Models", "Demo", "assets"));
        }

        using var dir = new TempDir();
        foreach (string fresh in SampleVolumes.WriteTestSamples(dir.Path))
        {
            string committed = TestData.Volume(Path.GetFileName(fresh));
            Assert.True(new FileInfo(committed).Length < 200_000);
            Assert.Equal(Decoded(committed), Decoded(fresh));
        }

        string demo = SampleVolumes.WriteDemo(dir.Path);
        using var embedded = SampleVolumes.OpenDemo();
        var ms = new MemoryStream();
        embedded.CopyTo(ms);
        Assert.True(ms.Length < 200_000);
        File.WriteAllBytes(dir.File("embedded.nii.gz"), ms.ToArray());
        Assert.Equal(Decoded(demo), Decoded(dir.File("embedded.nii.gz")));
    }

    [Fact]
    public void EmbeddedDemoReadsAsThePhantomInCanonicalOrientation()
    {
        var v = SampleVolumes.ReadDemo();
        var (d, h, w) = SampleVolumes.DemoSize;
        Assert.Equal((d, h, w), (v.Depth, v.Height, v.Width));
        Assert.Equal(Phantom.CtHu(d, h, w), v.Data);
        Assert.Equal(VolumeFileFormat.Nifti1, v.Format);
        Assert.Equal("RAS", v.SourceAxisCodes);
    }

    [Fact]
    public void PhantomAnatomyIsWhereTheCanonicalOrientationPutsIt()
    {
        const int d = 32, h = 64, w = 64;
        var v = Phantom.CtHu(d, h, w);
        double liverCol = 0;
        double spineRow = 0;
        int liver = 0;
        int spine = 0;
        var lesionSlices = new HashSet<int>();
        for (int z = 0; z < d; z++)
        {
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    float hu = v[(z * h + y) * w + x];
                    if (Math.Abs(hu - Phantom.LiverHu) <= Phantom.NoiseHu)
                    {
                        liverCol += x;
                        liver++;
                    }

                    if (hu > 600)
                    {
                        spineRow += y;
                        spine++;
                    }

                    if (Phantom.InLesion(2.0 * (x + 0.5) / w - 1, 2.0 * (y + 0.5) / h - 1, 2.0 * (z + 0.5) / d - 1))
                    {
                        lesionSlices.Add(z);
                    }
                }
            }
        }

        Assert.True(liverCol / liver < w / 2.0, "the liver (patient's right) must be on the image left");
        Assert.True(spineRow / spine > h / 2.0, "the spine (posterior) must be in the lower half");
        Assert.InRange(lesionSlices.Count, 2, d / 2);
        Assert.Equal(Phantom.AirHu, v[0]);
    }
}
