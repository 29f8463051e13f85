using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Tests.Input;

/// <summary>Every malformed input gives a <see cref="VolumeFormatException"/> with a one-line, specific message.</summary>
public class NiftiErrorTests
{
    private static NiftiBuilder Valid(int version = 1) =>
        NiftiBuilder.Float32([.. Enumerable.Range(0, 24).Select(i => (double)i)], 4, 3, 2, version);

    private static string Problem(byte[] bytes, string name = "bad.nii", VolumeReadOptions? options = null)
    {
        using var dir = new TempDir();
        string path = dir.Write(name, bytes);
        var e = Assert.Throws<VolumeFormatException>(() => VolumeReader.Read(path, options));
        Assert.Equal(path, e.FilePath);
        Assert.Equal($"{path}: {e.Problem}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.IsAssignableFrom<IOException>(e);
        return e.Problem;
    }

    [Fact]
    public void MissingFile()
    {
        var e = Assert.Throws<VolumeFormatException>(() => VolumeReader.Read("/nonexistent/ct.nii.gz"));
        Assert.Equal("/nonexistent/ct.nii.gz: file not found", e.Message);
    }

    [Fact]
    public void EmptyFile() => Assert.Equal("the file is empty", Problem([]));

    [Fact]
    public void UnknownFormat() => Assert.Equal(
        "unknown volume format: the content starts with 3C 68 74 6D 6C 3E, which is neither .npy (93 4E 55 4D 50 59) " +
        "nor NIfTI (sizeof_hdr 348 or 540), optionally gzip-compressed, nor DICOM Part 10 ('DICM' at byte 128)",
        Problem("<html><body>"u8.ToArray()));

    [Fact]
    public void WrongSizeofHdrWhenReadAsNifti()
    {
        var e = Assert.Throws<VolumeFormatException>(() => NiftiReader.Read(new MemoryStream(new byte[400]), "z.nii"));
        Assert.Equal("not a NIfTI file: sizeof_hdr is 0 (expected 348 for NIfTI-1 or 540 for NIfTI-2, in either byte order)", e.Problem);
    }

    [Fact]
    public void CorruptGzip()
    {
        var gz = Encode.Gzip(Valid().Build());
        for (int i = 20; i < gz.Length - 8; i++)
        {
            gz[i] ^= 0x5A;
        }

        Assert.StartsWith("corrupt gzip data: ", Problem(gz, "bad.nii.gz"));
    }

    [Fact]
    public void TruncatedGzip()
    {
        var gz = Encode.Gzip(Valid().Build());
        Assert.StartsWith("truncated", Problem(gz[..(gz.Length / 2)], "bad.nii.gz"));
    }

    [Theory]
    [InlineData(1, 100, "truncated NIfTI-1 header: expected 348 bytes, the file ends after 100")]
    [InlineData(2, 300, "truncated NIfTI-2 header: expected 540 bytes, the file ends after 300")]
    public void TruncatedHeader(int version, int keep, string problem) =>
        Assert.Equal(problem, Problem(Valid(version).Build()[..keep]));

    [Fact]
    public void BadMagic1()
    {
        var b = Valid();
        b.Magic = "xyz\0";
        Assert.Equal("bad NIfTI-1 magic 78 79 7A 00 (expected 'n+1')", Problem(b.Build()));
    }

    [Fact]
    public void PairFile1()
    {
        var b = Valid();
        b.Magic = "ni1\0";
        Assert.Equal("NIfTI-1 header/image pair (magic 'ni1'): the voxels are in a separate .img file, which is not supported",
            Problem(b.Build()));
    }

    [Fact]
    public void BadMagic2()
    {
        var b = Valid(2);
        b.Magic = "n+1\0\r\n\x1a\n";
        Assert.Equal("bad NIfTI-2 magic 6E 2B 31 00 (expected 'n+2')", Problem(b.Build()));
    }

    [Fact]
    public void TextModeDamage2()
    {
        var b = Valid(2);
        b.Magic = "n+2\0\n\n\x1a\n";
        Assert.Equal("NIfTI-2 end-of-line check bytes are 0A 0A 1A 0A (expected 0D 0A 1A 0A): the file was altered by a text-mode transfer",
            Problem(b.Build()));
    }

    [Theory]
    [InlineData(2L, 1L, 1L, "dim[0] = 2; only 3-D volumes (dim[0] = 3) and 4-D series of volumes (dim[0] = 4) are supported")]
    [InlineData(8L, 1L, 1L, "dim[0] = 8; only 3-D volumes (dim[0] = 3) and 4-D series of volumes (dim[0] = 4) are supported")]
    [InlineData(5L, 1L, 3L, "dim[0] = 5 with dim[5] = 3; only 3-D volumes and 4-D series of volumes (dims above the 4th equal to 1) are supported")]
    [InlineData(4L, 0L, 1L, "dim[4] = 0; a 4-D image needs at least one frame")]
    [InlineData(4L, 10L, 1L, "4-D image with 10 frames (dim[4] = 10); choose one with --frame N (VolumeReadOptions.Frame), 0 to 9")]
    public void UnsupportedDimensionality(long dim0, long dim4, long dim5, string problem)
    {
        var b = Valid();
        b.Dim = [dim0, 4, 3, 2, dim4, dim5, 1, 1];
        Assert.Equal(problem, Problem(b.Build()));
    }

    [Fact]
    public void FramesOutsideTheImage()
    {
        var b = Valid();
        b.Dim = [4, 4, 3, 2, 3, 1, 1, 1];
        b.Data = [.. b.Data, .. b.Data, .. b.Data];
        Assert.Equal("frame 3 does not exist: the image has 3 frames (0 to 2)", Problem(b.Build(), options: new() { Frame = 3 }));
        Assert.Equal("frame -1 does not exist: the image has 3 frames (0 to 2)", Problem(b.Build(), options: new() { Frame = -1 }));
        Assert.Equal("frame 1 does not exist: the image has a single frame (0)", Problem(Valid().Build(), options: new() { Frame = 1 }));
        b.Data = b.Data[..^10];
        Assert.Equal("truncated data: expected 96 bytes of float32 voxels of frame 2 at offset 544, the file ends after 86",
            Problem(b.Build(), options: new() { Frame = 2 }));
    }

    [Fact]
    public void ZeroOrNegativeSize()
    {
        var b = Valid();
        b.Dim = [3, 4, 0, 2, 1, 1, 1, 1];
        Assert.Equal("dim[2] = 0; every spatial size must be at least 1", Problem(b.Build()));
        b.Dim = [3, 4, 3, -2, 1, 1, 1, 1];
        Assert.Equal("dim[3] = -2; every spatial size must be at least 1", Problem(b.Build()));
    }

    [Fact]
    public void AbsurdDims()
    {
        var b = Valid(2);
        b.Dim = [3, 1L << 20, 1L << 20, 1L << 20, 1, 1, 1, 1];
        Assert.Equal("dims 1048576×1048576×1048576 = 1152921504606846976 voxels, more than the limit of 268435456 "
            + "(VolumeReadOptions.MaxVoxels)", Problem(b.Build()));
        b = Valid();
        b.Dim = [3, 30000, 30000, 30000, 1, 1, 1, 1];
        Assert.Equal("dims 30000×30000×30000 = 27000000000000 voxels, more than the limit of 268435456 "
            + "(VolumeReadOptions.MaxVoxels)", Problem(b.Build()));
    }

    [Theory]
    [InlineData((short)128, (short)24, "unsupported datatype 128 (RGB24); supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64")]
    [InlineData((short)32, (short)64, "unsupported datatype 32 (complex64); supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64")]
    [InlineData((short)0, (short)0, "unsupported datatype 0 (unknown); supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64")]
    [InlineData((short)16, (short)8, "bitpix 8 does not match datatype 16 (float32, 32 bits)")]
    public void BadDatatype(short datatype, short bitpix, string problem)
    {
        var b = Valid();
        b.Datatype = datatype;
        b.Bitpix = bitpix;
        Assert.Equal(problem, Problem(b.Build()));
    }

    [Theory]
    [InlineData(1, 100.0, "bad vox_offset 100 (expected a whole number of bytes ≥ 348, the header size)")]
    [InlineData(1, 352.5, "bad vox_offset 352.5 (expected a whole number of bytes ≥ 348, the header size)")]
    [InlineData(2, 12.0, "bad vox_offset 12 (expected a whole number of bytes ≥ 540, the header size)")]
    [InlineData(1, 4000.0, "truncated file: vox_offset is 4000 but the file ends after 448 bytes")]
    public void BadVoxOffset(int version, double offset, string problem)
    {
        var b = Valid(version);
        b.VoxOffset = offset;
        Assert.Equal(problem, Problem(b.Build()));
    }

    [Fact]
    public void TruncatedData() => Assert.Equal(
        "truncated data: expected 96 bytes of float32 voxels at offset 352, the file ends after 90",
        Problem(Valid().Build()[..^6]));

    [Fact]
    public void NaNVoxelsAreAnErrorWithTheirCountOrReplaced()
    {
        var values = Enumerable.Range(0, 24).Select(i => (double)i).ToArray();
        values[0] = double.NaN; // stored (0, 0, 0) → canonical (d, h, w) = (1, 2, 0) for LAS storage (no xform)
        values[5] = double.NegativeInfinity; // stored (1, 1, 0) → (1, 1, 1), first in canonical order
        var bytes = NiftiBuilder.Float32(values, 4, 3, 2).Build();
        Assert.Equal("1 NaN and 1 infinite voxel(s), the first at (d, h, w) = (1, 1, 1); " +
                     "read with NonFinitePolicy.ReplaceWithZero to replace them with 0", Problem(bytes));

        using var dir = new TempDir();
        var v = VolumeReader.Read(dir.Write("nan.nii", bytes), new VolumeReadOptions { NonFinite = NonFinitePolicy.ReplaceWithZero });
        Assert.Equal(2, v.Data.Count(x => x == 0f));
        Assert.All(v.Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void InfiniteSclSlopeIsIgnoredWithAWarning()
    {
        var b = Valid();
        b.SclSlope = double.PositiveInfinity;
        using var dir = new TempDir();
        var v = VolumeReader.Read(dir.Write("inf.nii", b.Build()));
        Assert.Contains("scl_slope is Infinity; intensities left unscaled", v.Warnings);
    }
}
