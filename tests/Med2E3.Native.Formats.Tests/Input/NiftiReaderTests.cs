using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Tests.Input;

public class NiftiReaderTests
{
    private const int Ni = 5;
    private const int Nj = 4;
    private const int Nk = 3;

    private static double[] Stored(int seed, Func<Random, double> next)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, Ni * Nj * Nk).Select(_ => next(rng))];
    }

    private static double At(double[] stored, int i, int j, int k) => stored[(k * Nj + j) * Ni + i];

    /// <summary>
    /// The canonical array expected for stored axes that follow L, A, S (i → L, j → A, k → S, nibabel's Analyze
    /// convention for a header with neither sform nor qform): j and k are reversed, and the order becomes (k, j, i).
    /// </summary>
    private static float[] ExpectedFromLas(double[] stored, Func<double, double> f)
    {
        var e = new List<float>();
        for (int d = 0; d < Nk; d++)
        {
            for (int h = 0; h < Nj; h++)
            {
                for (int w = 0; w < Ni; w++)
                {
                    e.Add((float)f(At(stored, w, Nj - 1 - h, Nk - 1 - d)));
                }
            }
        }

        return [.. e];
    }

    public static TheoryData<short, string, int, bool> Datatypes()
    {
        var data = new TheoryData<short, string, int, bool>();
        var types = new (short Code, string Enc)[]
        {
            (2, "u1"), (256, "i1"), (4, "i2"), (512, "u2"), (8, "i4"), (768, "u4"), (1024, "i8"), (1280, "u8"), (16, "f4"), (64, "f8"),
        };
        foreach (var (code, enc) in types)
        {
            foreach (int version in new[] { 1, 2 })
            {
                foreach (bool big in new[] { false, true })
                {
                    data.Add(code, enc, version, big);
                }
            }
        }

        return data;
    }

    private static double Sample(Random r, string enc) => enc switch
    {
        "u1" => r.Next(256),
        "i1" => r.Next(-128, 128),
        "i2" => r.Next(-32768, 32768),
        "u2" => r.Next(65536),
        "i4" => r.Next(int.MinValue, int.MaxValue),
        "u4" => r.NextInt64(0, uint.MaxValue),
        "i8" => r.NextInt64(-1L << 40, 1L << 40),
        "u8" => r.NextInt64(0, 1L << 40),
        _ => r.Next(-1 << 20, 1 << 20) / 16.0,
    };

    [Theory]
    [MemberData(nameof(Datatypes))]
    public void ReadsEveryDatatypeVersionAndByteOrder(short code, string enc, int version, bool big)
    {
        using var dir = new TempDir();
        var stored = Stored(code + version, r => Sample(r, enc));
        var b = new NiftiBuilder
        {
            Version = version,
            BigEndian = big,
            Dim = [3, Ni, Nj, Nk, 1, 1, 1, 1],
            Datatype = code,
            Bitpix = (short)(8 * (enc[1] - '0')),
            Pixdim = [1, 0.5, 0.75, 2.5, 1, 1, 1, 1],
            Data = Encode.Values(stored, enc, big),
        }.Build();
        foreach (bool gz in new[] { false, true })
        {
            var v = VolumeReader.Read(dir.Write(gz ? "a.nii.gz" : "a.nii", gz ? Encode.Gzip(b) : b));
            Assert.Equal(version == 1 ? VolumeFileFormat.Nifti1 : VolumeFileFormat.Nifti2, v.Format);
            Assert.Equal((Nk, Nj, Ni), (v.Depth, v.Height, v.Width));
            Assert.Equal(ExpectedFromLas(stored, x => x), v.Data);
            Assert.Equal("LAS", v.SourceAxisCodes);
            Assert.Equal("pixdim", v.OrientationSource);
            Assert.Equal((2.5, 0.75, 0.5), v.SpacingMm);
            Assert.Contains(v.Warnings, w => w.StartsWith("no sform or qform", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(1, 0.5, -3.0)]
    [InlineData(2, 0.5, -3.0)]
    [InlineData(1, 0.0, 7.0)] // slope 0: no scaling, the intercept is ignored
    [InlineData(2, 1.0, 0.0)]
    public void AppliesSclSlopeAndInter(int version, double slope, double inter)
    {
        using var dir = new TempDir();
        var stored = Stored(9, r => r.Next(-1000, 1000));
        var b = new NiftiBuilder
        {
            Version = version,
            Dim = [3, Ni, Nj, Nk, 1, 1, 1, 1],
            Datatype = 4,
            Bitpix = 16,
            SclSlope = slope,
            SclInter = inter,
            Data = Encode.Values(stored, "i2", false),
        }.Build();
        var v = VolumeReader.Read(dir.Write("s.nii", b));
        Func<double, double> f = slope == 0 ? x => x : x => x * slope + inter;
        Assert.Equal(ExpectedFromLas(stored, f), v.Data);
    }

    /// <summary>Builds a float32 volume with the given orientation fields; values are the stored index.</summary>
    private static Volume ReadOriented(Action<NiftiBuilder> orient, int version = 1, bool big = false)
    {
        using var dir = new TempDir();
        var stored = Enumerable.Range(0, Ni * Nj * Nk).Select(i => (double)i).ToArray();
        var nb = NiftiBuilder.Float32(stored, Ni, Nj, Nk, version, big);
        orient(nb);
        return VolumeReader.Read(dir.Write("o.nii", nb.Build()));
    }

    /// <summary>Asserts v[d, h, w] == stored index of (i, j, k) = map(d, h, w), for the given canonical sizes.</summary>
    private static void AssertMapping(Volume v, (int D, int H, int W) size, Func<int, int, int, (int I, int J, int K)> map)
    {
        Assert.Equal(size, (v.Depth, v.Height, v.Width));
        for (int d = 0; d < size.D; d++)
        {
            for (int h = 0; h < size.H; h++)
            {
                for (int w = 0; w < size.W; w++)
                {
                    var (i, j, k) = map(d, h, w);
                    Assert.Equal((k * Nj + j) * Ni + i, (int)v.Data[(d * size.H + h) * size.W + w]);
                }
            }
        }
    }

    private static double[,] Srow(double[,] m3, double ox = 10, double oy = -20, double oz = 30) => new double[,]
    {
        { m3[0, 0], m3[0, 1], m3[0, 2], ox },
        { m3[1, 0], m3[1, 1], m3[1, 2], oy },
        { m3[2, 0], m3[2, 1], m3[2, 2], oz },
    };

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public void SformLps_FlipsOnlyTheSliceAxis(int version, bool big)
    {
        // i → L, j → P (DICOM-like rows and columns), k → S: only the slice axis must be reversed.
        var v = ReadOriented(nb =>
        {
            nb.SformCode = 1;
            nb.Srow = Srow(new double[,] { { -0.8, 0, 0 }, { 0, -0.8, 0 }, { 0, 0, 2.5 } });
        }, version, big);
        Assert.Equal("LPS", v.SourceAxisCodes);
        Assert.Equal("sform", v.OrientationSource);
        Assert.Equal((2.5, 0.8, 0.8), v.SpacingMm!.Value, new SpacingComparer());
        AssertMapping(v, (Nk, Nj, Ni), (d, h, w) => (w, h, Nk - 1 - d));
    }

    [Fact]
    public void SformPermuted_IrpBecomesDhw()
    {
        // i → I (slices), j → R, k → P: D comes from i unflipped, W from j reversed, H from k unflipped.
        var v = ReadOriented(nb =>
        {
            nb.SformCode = 2;
            nb.Srow = Srow(new double[,] { { 0, 3, 0 }, { 0, 0, -1 }, { -2, 0, 0 } });
        });
        Assert.Equal("IRP", v.SourceAxisCodes);
        Assert.Equal((2.0, 1.0, 3.0), v.SpacingMm!.Value, new SpacingComparer());
        AssertMapping(v, (Ni, Nk, Nj), (d, h, w) => (d, Nj - 1 - w, h));
    }

    [Fact]
    public void ObliqueSform_UsesTheClosestAxes()
    {
        // LPS rotated by 20° about the slice axis: still closest to L, P, S.
        double c = Math.Cos(20 * Math.PI / 180);
        double s = Math.Sin(20 * Math.PI / 180);
        var v = ReadOriented(nb =>
        {
            nb.SformCode = 1;
            nb.Srow = Srow(new double[,] { { -c, s, 0 }, { -s, -c, 0 }, { 0, 0, 1 } });
        });
        Assert.Equal("LPS", v.SourceAxisCodes);
        AssertMapping(v, (Nk, Nj, Ni), (d, h, w) => (w, h, Nk - 1 - d));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void QformQuaternion_90DegreesAboutZ_WithNegativeQfac(int version)
    {
        // a = cos 45°, d = sin 45°: R = [[0, −1, 0], [1, 0, 0], [0, 0, 1]] → i → A, j → L; qfac −1 turns k → I.
        var v = ReadOriented(nb =>
        {
            nb.QformCode = 1;
            nb.Quatern = [0, 0, Math.Sqrt(0.5)];
            nb.Pixdim = [-1, 0.7, 0.9, 3, 1, 1, 1, 1];
        }, version);
        Assert.Equal("ALI", v.SourceAxisCodes);
        Assert.Equal("qform", v.OrientationSource);
        Assert.Equal((3.0, 0.7, 0.9), v.SpacingMm!.Value, new SpacingComparer());
        AssertMapping(v, (Nk, Ni, Nj), (d, h, w) => (Ni - 1 - h, w, d));
    }

    [Fact]
    public void SformWinsOverQform()
    {
        var v = ReadOriented(nb =>
        {
            nb.QformCode = 1;
            nb.Quatern = [0, 0, Math.Sqrt(0.5)];
            nb.SformCode = 1;
            nb.Srow = Srow(new double[,] { { -1, 0, 0 }, { 0, -1, 0 }, { 0, 0, 1 } });
        });
        Assert.Equal("sform", v.OrientationSource);
        Assert.Equal("LPS", v.SourceAxisCodes);
    }

    [Fact]
    public void SingularSformFallsBackToQformWithAWarning()
    {
        var v = ReadOriented(nb =>
        {
            nb.SformCode = 1;
            nb.Srow = Srow(new double[,] { { 1, 1, 0 }, { 0, 0, 0 }, { 0, 0, 1 } });
            nb.QformCode = 1;
        });
        Assert.Equal("qform", v.OrientationSource);
        Assert.Equal("RAS", v.SourceAxisCodes);
        Assert.Equal("sform (sform_code 1) is singular or not finite; ignored", Assert.Single(v.Warnings));
    }

    [Fact]
    public void FourDimensionalWithOneVolumeIsAccepted()
    {
        var v = ReadOriented(nb => nb.Dim = [4, Ni, Nj, Nk, 1, 1, 1, 1]);
        Assert.Equal((Nk, Nj, Ni), (v.Depth, v.Height, v.Width));
    }

    [Fact]
    public void ExtensionBytesBeforeVoxOffsetAreSkipped()
    {
        var v = ReadOriented(nb => nb.ExtraBytesBeforeData = 32);
        AssertMapping(v, (Nk, Nj, Ni), (d, h, w) => (w, Nj - 1 - h, Nk - 1 - d));
    }

    private sealed class SpacingComparer : IEqualityComparer<(double, double, double)>
    {
        public bool Equals((double, double, double) a, (double, double, double) b) =>
            Math.Abs(a.Item1 - b.Item1) < 1e-6 && Math.Abs(a.Item2 - b.Item2) < 1e-6 && Math.Abs(a.Item3 - b.Item3) < 1e-6;

        public int GetHashCode((double, double, double) obj) => 0;
    }
}
