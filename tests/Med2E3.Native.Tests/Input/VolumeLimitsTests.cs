using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Input;

/// <summary>
/// Volumes from strangers are bounded before anything is allocated (issue 10): the voxel cap is checked from the
/// header, the data the header promises must be in the file (plain or gzip), and the header's skips are capped.
/// Allocation is measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/>: the readers allocate on the caller.
/// </summary>
public class VolumeLimitsTests(ITestOutputHelper log)
{
    const long MiB = 1 << 20;

    [Fact]
    public void TheDefaultCapAdmitsAWholeCtAndRefusesMoreThanAGigabyteOfVoxels()
    {
        Assert.True(VolumeReadOptions.DefaultMaxVoxels >= 600L * 512 * 512, "a 600 × 512 × 512 CT must pass");
        Assert.True(VolumeReadOptions.DefaultMaxVoxels * sizeof(float) <= 1L << 30, "the default read stays within 1 GiB");
        Assert.Equal(VolumeReadOptions.DefaultMaxVoxels, VolumeReadOptions.Default.MaxVoxels);
    }

    /// <summary>Reads <paramref name="bytes"/> as <paramref name="name"/>; returns the problem and the bytes allocated.</summary>
    static (string Problem, long Allocated) Refused(TempDir dir, string name, byte[] bytes, VolumeReadOptions? options = null)
    {
        string path = dir.Write(name, bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<VolumeFormatException>(() => VolumeReader.Read(path, options));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(path, e.FilePath);
        return (e.Problem, allocated);
    }

    static NiftiBuilder Header(int ni, int nj, int nk, short datatype = 16, short bitpix = 32)
    {
        var b = NiftiBuilder.Float32([], ni, nj, nk);
        b.Datatype = datatype;
        b.Bitpix = bitpix;
        return b;
    }

    [Fact]
    public void A1024By1024By512HeaderIsRefusedByTheCapBeforeReading()
    {
        using var dir = new TempDir();
        byte[] nifti = Header(1024, 1024, 512, datatype: 2, bitpix: 8).Build();
        var (problem, allocated) = Refused(dir, "big.nii.gz", Encode.Gzip(nifti));
        log.WriteLine($"{problem} ({allocated} bytes allocated)");
        Assert.Equal("dims 1024×1024×512 = 536870912 voxels, more than the limit of 268435456 (VolumeReadOptions.MaxVoxels)",
            problem);
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
    }

    /// <summary>Headers that claim 2^28 float32 voxels (1 GiB) with no data: refused before the array exists.</summary>
    [Theory]
    [InlineData("nodata.nii", false)]
    [InlineData("nodata.nii.gz", true)]
    public void AHeaderWithoutItsDataIsRefusedBeforeAllocating(string name, bool gzip)
    {
        using var dir = new TempDir();
        byte[] nifti = Header(512, 512, 1024).Build();
        var (problem, allocated) = Refused(dir, name, gzip ? Encode.Gzip(nifti) : nifti);
        log.WriteLine($"{problem} ({allocated} bytes allocated)");
        Assert.Equal("truncated data: expected 1073741824 bytes of float32 voxels at offset 352, the file ends after 0", problem);
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
    }

    [Fact]
    public void AGzipWhoseDataStopsShortIsRefusedAfterCountingNotAfterAllocating()
    {
        // 4 MiB of zeros compress to a few kilobytes; the header promises 1 GiB.
        using var dir = new TempDir();
        byte[] nifti = Header(512, 512, 1024).Build();
        byte[] file = Encode.Gzip([.. nifti, .. new byte[4 * MiB]]);
        var (problem, allocated) = Refused(dir, "short.nii.gz", file);
        log.WriteLine($"{file.Length}-byte file: {problem} ({allocated} bytes allocated)");
        Assert.Equal($"truncated data: expected 1073741824 bytes of float32 voxels at offset 352, the file ends after {4 * MiB}",
            problem);
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnNpyWithoutItsDataIsRefusedBeforeAllocating(bool gzip)
    {
        using var dir = new TempDir();
        var b = NpyBuilder.For([], "<f4", "(1, 1024, 512, 512)");
        byte[] bytes = b.Build();
        var (problem, allocated) = Refused(dir, gzip ? "nodata.npy.gz" : "nodata.npy", gzip ? Encode.Gzip(bytes) : bytes);
        log.WriteLine($"{problem} ({allocated} bytes allocated)");
        Assert.Equal("truncated data: expected 1073741824 bytes of float32 voxels ('<f4') after the 128-byte header, "
            + "the file ends after 0", problem);
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
    }

    [Fact]
    public void ARaisedCapStillChecksTheDataFirst()
    {
        using var dir = new TempDir();
        byte[] nifti = Header(1024, 1024, 512, datatype: 2, bitpix: 8).Build();
        var (problem, allocated) = Refused(dir, "big.nii", nifti, new VolumeReadOptions { MaxVoxels = 1L << 30 });
        Assert.Equal("truncated data: expected 536870912 bytes of uint8 voxels at offset 352, the file ends after 0", problem);
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
    }

    [Fact]
    public void HeaderExtensionsAreCapped()
    {
        using var dir = new TempDir();
        var b = NiftiBuilder.Float32([1, 2], 2, 1, 1);
        b.VoxOffset = 1L << 40;
        var (problem, _) = Refused(dir, "offset.nii.gz", Encode.Gzip(b.Build()));
        Assert.Equal("bad vox_offset 1099511627776: 1099511627428 bytes of header extensions, more than the 268435456 allowed",
            problem);
    }

    /// <summary>A valid gzip volume above the counting threshold reads exactly as before, allocating about its own size.</summary>
    [Fact]
    public void AValidGzipVolumeAboveTheCountingThresholdReads()
    {
        using var dir = new TempDir();
        int ni = 128, nj = 128, nk = 300;                     // 4.9 M voxels, 19 MiB of float32 (> 16 MiB)
        var values = new double[ni * nj * nk];
        for (int i = 0; i < values.Length; i++) values[i] = i % 977;
        byte[] nifti = NiftiBuilder.Float32(values, ni, nj, nk).Build();
        Assert.True(values.Length * 4L > StreamUtilThreshold);
        string path = dir.Write("valid.nii.gz", Encode.Gzip(nifti));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Volume v = VolumeReader.Read(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        log.WriteLine($"{allocated / (double)MiB:0.0} MiB allocated for {values.Length * 4L / (double)MiB:0.0} MiB of voxels");
        Assert.Equal((nk, nj, ni), (v.Depth, v.Height, v.Width));
        Assert.Equal(976f, v.Data.Max());
        // The reader's own buffer and the canonical copy (orientation), plus chunks: well under 3 × the data.
        Assert.True(allocated < 3L * values.Length * 4, $"{allocated} bytes allocated");
    }

    const long StreamUtilThreshold = 16L << 20;

    [Fact]
    public void MaxVoxelsOnTheCommandLine()
    {
        var low = CliRunner.Run("generate", "--demo", "--max-voxels", "100");
        Assert.True(low.ExitCode == ExitCodes.BadInput, low.ToString());
        string line = Assert.Single(low.ErrLines, l => l.StartsWith("med2e3: "));
        Assert.EndsWith("phantom-ct-32x64x64.nii.gz: dims 64×64×32 = 131072 voxels, more than the limit of 100 (--max-voxels)", line);

        var zero = CliRunner.Run("generate", "--demo", "--max-voxels", "0");
        Assert.Equal(ExitCodes.Usage, zero.ExitCode);
        Assert.Contains("--max-voxels expects a whole number from 1 to", zero.Err);

        var enough = CliRunner.Run("generate", "--demo", "--max-voxels", "131072", "--json");
        Assert.True(enough.ExitCode == ExitCodes.Ok, enough.ToString());
    }
}
