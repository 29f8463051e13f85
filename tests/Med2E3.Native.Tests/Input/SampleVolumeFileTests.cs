using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Tests.Input;

/// <summary>The committed sample volumes read back as what the model's <see cref="SampleVolumes"/> and
/// <see cref="Phantom"/> wrote.</summary>
public class SampleVolumeFileTests
{
    [Fact]
    public void ReadsTheCommittedSampleAsThePhantom()
    {
        var v = NiftiReader.Read(TestData.Volume(SampleVolumes.TestNiftiFileName));
        Assert.Equal((8, 32, 32), (v.Depth, v.Height, v.Width));
        Assert.Equal("RAS", v.SourceAxisCodes);
        Assert.Equal(Phantom.CtHu(8, 32, 32), v.Data);
    }

    [Fact]
    public void ReadsTheCommittedM3DStyleSample()
    {
        var v = NpyReader.Read(TestData.Volume(SampleVolumes.TestNpyFileName));
        Assert.Equal((8, 32, 32), (v.Depth, v.Height, v.Width));
        Assert.Equal(0f, v.Data.Min());
        Assert.Equal(1f, v.Data.Max());
    }
}
