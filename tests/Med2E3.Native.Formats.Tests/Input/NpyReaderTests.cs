using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Tests.Input;

public class NpyReaderTests
{
    private const int D = 3;
    private const int H = 4;
    private const int W = 5;

    /// <summary>Values of (D, H, W) in C order that every dtype represents exactly.</summary>
    private static double[] Logical(string code, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, D * H * W).Select(_ => code switch
        {
            "b1" => rng.Next(2),
            "u1" => rng.Next(256),
            "i1" => rng.Next(-128, 128),
            "u2" => rng.Next(65536),
            "i2" => rng.Next(-32768, 32768),
            "f2" => rng.Next(-2048, 2048) / 8.0,
            "f4" => rng.Next(-1 << 20, 1 << 20) / 64.0,
            "f8" => rng.Next(-1 << 20, 1 << 20) / 64.0,
            "i4" => rng.Next(int.MinValue, int.MaxValue),
            "u4" => rng.NextInt64(0, uint.MaxValue),
            "i8" => rng.NextInt64(-1L << 40, 1L << 40),
            _ => rng.NextInt64(0, 1L << 40),
        })];
    }

    /// <summary>The same values laid out in Fortran order (first axis fastest).</summary>
    private static double[] ToFortran(double[] c)
    {
        var f = new double[c.Length];
        for (int z = 0; z < D; z++)
        {
            for (int y = 0; y < H; y++)
            {
                for (int x = 0; x < W; x++)
                {
                    f[z + D * (y + H * x)] = c[(z * H + y) * W + x];
                }
            }
        }

        return f;
    }

    public static TheoryData<string, bool, int, bool> Cases()
    {
        var data = new TheoryData<string, bool, int, bool>();
        int n = 0;
        foreach (var code in new[] { "f4", "f8", "f2", "u1", "i1", "b1", "i2", "u2", "i4", "u4", "i8", "u8" })
        {
            foreach (bool fortran in new[] { false, true })
            {
                n++;
                data.Add(code, fortran, 1 + n % 3, n % 2 == 0);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReadsEveryDtypeInBothByteOrdersAndLayouts(string code, bool fortran, int major, bool withChannel)
    {
        using var dir = new TempDir();
        var values = Logical(code, code.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        var orders = code[1] == '1' ? new[] { '|', '<', '>' } : new[] { '<', '>' };
        foreach (char order in orders)
        {
            string shape = withChannel ? $"(1, {D}, {H}, {W})" : $"({D}, {H}, {W})";
            var bytes = NpyBuilder.For(fortran ? ToFortran(values) : values, order + code, shape, fortran, major).Build();
            foreach (bool gz in new[] { false, true })
            {
                string path = dir.Write($"{code}{order}{fortran}{gz}.npy", gz ? Encode.Gzip(bytes) : bytes);
                var v = VolumeReader.Read(path);
                Assert.Equal(VolumeFileFormat.Npy, v.Format);
                Assert.Equal((D, H, W), (v.Depth, v.Height, v.Width));
                Assert.Equal(values.Select(x => (float)x), v.Data);
                Assert.Null(v.SpacingMm);
                Assert.Empty(v.Warnings);
            }
        }
    }

    private static VolumeFormatException Fails(byte[] bytes, VolumeReadOptions? options = null)
    {
        using var dir = new TempDir();
        string path = dir.Write("bad.npy", bytes);
        var e = Assert.Throws<VolumeFormatException>(() => VolumeReader.Read(path, options));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static double[] Ramp(int n) => [.. Enumerable.Range(0, n).Select(i => (double)i)];

    [Fact]
    public void BadMagic()
    {
        var e = Assert.Throws<VolumeFormatException>(() => NpyReader.Read(new MemoryStream("NUMPY!!!xx"u8.ToArray()), "x.npy"));
        Assert.Equal("x.npy: not a .npy file: bad magic 4E 55 4D 50 59 21 (expected 93 4E 55 4D 50 59)", e.Message);
    }

    [Fact]
    public void UnsupportedVersion()
    {
        var b = NpyBuilder.For(Ramp(60), "<f4", "(3, 4, 5)").Build();
        b[6] = 4;
        Assert.Equal("unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)", Fails(b).Problem);
    }

    [Fact]
    public void TruncatedHeader()
    {
        var b = NpyBuilder.For(Ramp(60), "<f4", "(3, 4, 5)").Build();
        Assert.Equal("truncated .npy header: expected 118 bytes, the file ends after 30", Fails(b[..40]).Problem);
    }

    [Fact]
    public void MissingKey()
    {
        var b = new NpyBuilder { Header = "{'descr': '<f4', 'shape': (3, 4, 5), }", Data = new byte[240] }.Build();
        Assert.StartsWith("malformed .npy header: no 'fortran_order' key in \"{'descr'", Fails(b).Problem);
    }

    [Fact]
    public void MalformedDict()
    {
        var b = new NpyBuilder { Header = "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3, 4, 5), }" }.Build();
        Assert.StartsWith("malformed .npy header: expected True or False at character 34 of", Fails(b).Problem);
    }

    [Fact]
    public void UnsupportedDtype()
    {
        var b = new NpyBuilder { Header = "{'descr': '<c8', 'fortran_order': False, 'shape': (3, 4, 5), }" }.Build();
        Assert.Equal("unsupported .npy dtype '<c8', a complex dtype (supported: f2 f4 f8 u1 i1 i2 u2 i4 u4 i8 u8 b1, " +
            "with '<', '>' or '|')", Fails(b).Problem);
        b = new NpyBuilder { Header = "{'descr': '>f3', 'fortran_order': False, 'shape': (3, 4, 5), }" }.Build();
        Assert.Equal("unsupported .npy dtype '>f3' (supported: f2 f4 f8 u1 i1 i2 u2 i4 u4 i8 u8 b1, with '<', '>' or '|')",
            Fails(b).Problem);
    }

    [Fact]
    public void StructuredDtypeIsNamedAsSuch()
    {
        // np.save of np.zeros((3, 4, 5), dtype=[('hu', '<i2'), ('mask', '|u1')]) writes this header.
        var b = new NpyBuilder
        {
            Header = "{'descr': [('hu', '<i2'), ('mask', '|u1')], 'fortran_order': False, 'shape': (3, 4, 5), }",
            Data = new byte[3 * 4 * 5 * 3],
        }.Build();
        Assert.Equal("structured dtype [('hu', '<i2'), ('mask', '|u1')] (a record array with named fields) is not " +
            "supported; save a plain numeric array of shape (1, D, H, W) or (D, H, W)", Fails(b).Problem);
    }

    [Theory]
    [InlineData("|O", "an object array (pickled Python objects, which are never loaded)")]
    [InlineData("<U8", "a string dtype")]
    [InlineData("|S4", "a string dtype")]
    [InlineData("|V16", "a raw void dtype")]
    [InlineData("<M8[ns]", "a date/time dtype")]
    public void NonNumericDtypesAreNamed(string descr, string kind)
    {
        var b = new NpyBuilder { Header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': (3, 4, 5), }}" }.Build();
        Assert.Equal($"unsupported .npy dtype '{descr}', {kind} (supported: f2 f4 f8 u1 i1 i2 u2 i4 u4 i8 u8 b1, with " +
            "'<', '>' or '|')", Fails(b).Problem);
    }

    [Fact]
    public void ChannelsLastIsReportedAsSuchNotAsManyChannels()
    {
        var b = NpyBuilder.For(new double[5 * 32 * 32], "<f4", "(5, 32, 32, 1)").Build();
        Assert.Equal("shape (5, 32, 32, 1) is channels-last (D, H, W, 1); M3D volumes are channel-first (1, D, H, W) or " +
            "(D, H, W): save a[..., 0] or np.moveaxis(a, -1, 0) instead", Fails(b).Problem);
    }

    [Fact]
    public void ANpyVolumeHasOnlyFrameZero()
    {
        using var dir = new TempDir();
        string path = dir.Write("a.npy", NpyBuilder.For(new double[24], "<f4", "(2, 3, 4)").Build());
        Assert.Equal(24, NpyReader.Read(path, new VolumeReadOptions { Frame = 0 }).VoxelCount);
        var e = Assert.Throws<VolumeFormatException>(() => NpyReader.Read(path, new VolumeReadOptions { Frame = 1 }));
        Assert.Equal("frame 1 does not exist: a .npy volume has a single frame (0)", e.Problem);
    }

    [Theory]
    [InlineData("(12, 5)", "shape (12, 5) is not (D, H, W) or (1, D, H, W)")]
    [InlineData("(60,)", "shape (60,) is not (D, H, W) or (1, D, H, W)")]
    [InlineData("(2, 3, 4, 5)", "shape (2, 3, 4, 5) has 2 channels; only single-channel volumes (1, D, H, W) are supported")]
    [InlineData("(3, 0, 5)", "shape (3, 0, 5) has an empty axis")]
    [InlineData("(100000, 100000, 100000)",
        "shape (100000, 100000, 100000) has 1000000000000000 voxels, more than the limit of 268435456 (VolumeReadOptions.MaxVoxels)")]
    public void BadShapes(string shape, string problem)
    {
        var b = new NpyBuilder { Header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}" }.Build();
        Assert.Equal(problem, Fails(b).Problem);
    }

    [Fact]
    public void TruncatedData()
    {
        var b = NpyBuilder.For(Ramp(60), "<i2", "(3, 4, 5)").Build();
        Assert.Equal("truncated data: expected 120 bytes of int16 voxels ('<i2') after the 128-byte header, the file ends after 99",
            Fails(b[..^21]).Problem);
    }

    [Fact]
    public void NonFiniteVoxelsAreAnErrorByDefaultOrReplacedOnRequest()
    {
        var values = Ramp(60);
        values[7] = double.NaN;
        values[20] = double.PositiveInfinity;
        values[21] = double.NaN;
        var b = NpyBuilder.For(values, "<f4", "(3, 4, 5)").Build();
        Assert.Equal("2 NaN and 1 infinite voxel(s), the first at (d, h, w) = (0, 1, 2); " +
                     "read with NonFinitePolicy.ReplaceWithZero to replace them with 0", Fails(b).Problem);

        using var dir = new TempDir();
        var v = VolumeReader.Read(dir.Write("nan.npy", b), new VolumeReadOptions { NonFinite = NonFinitePolicy.ReplaceWithZero });
        Assert.Equal(0f, v.Data[7]);
        Assert.Equal(0f, v.Data[20]);
        Assert.Equal(8f, v.Data[8]);
        Assert.Equal("2 NaN and 1 infinite voxel(s), the first at (d, h, w) = (0, 1, 2) replaced with 0", Assert.Single(v.Warnings));
    }

    [Fact]
    public void LimitIsConfigurable()
    {
        var b = NpyBuilder.For(Ramp(60), "<f4", "(3, 4, 5)").Build();
        Assert.Equal("shape (3, 4, 5) has 60 voxels, more than the limit of 59 (VolumeReadOptions.MaxVoxels)",
            Fails(b, new VolumeReadOptions { MaxVoxels = 59 }).Problem);
    }
}
