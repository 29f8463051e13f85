using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;

namespace Med2E3.Native.Tests.Input;

public class PreprocessTests
{
    private static float[] Random01(int n, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble())];
    }

    private static float[] Resize(float[] src, int d, int h, int w, int od, int oh, int ow)
    {
        var dst = new float[od * oh * ow];
        Preprocess.ResizeTrilinear(src, d, h, w, dst, od, oh, ow);
        return dst;
    }

    [Fact]
    public void TwoToFour_MatchesTheHandDerivedPyTorchValues()
    {
        // F.interpolate([a, b], size=4, mode="linear", align_corners=False): scale = 1/2, src = (o + 0.5)/2 − 0.5
        // = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (i0 = 1, i1 = min(2, 1) = 1) → [a, ¾a + ¼b, ¼a + ¾b, b].
        // Along each axis alone, and as the tensor product in 3-D.
        float a = 3f;
        float b = 7f;
        Assert.Equal(new[] { 3f, 4f, 6f, 7f }, Resize([a, b], 1, 1, 2, 1, 1, 4));
        Assert.Equal(new[] { 3f, 4f, 6f, 7f }, Resize([a, b], 1, 2, 1, 1, 4, 1));
        Assert.Equal(new[] { 3f, 4f, 6f, 7f }, Resize([a, b], 2, 1, 1, 4, 1, 1));

        var cube = new float[] { 0, 1, 2, 3, 4, 5, 6, 7 }; // v[z, y, x] = 4z + 2y + x
        var y = Resize(cube, 2, 2, 2, 4, 4, 4);
        float[] t = [0f, 0.25f, 0.75f, 1f];
        for (int z = 0; z < 4; z++)
        {
            for (int r = 0; r < 4; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    Assert.Equal(4 * t[z] + 2 * t[r] + t[c], y[(z * 4 + r) * 4 + c]);
                }
            }
        }
    }

    [Fact]
    public void FourToTwo_AveragesPairs()
    {
        // scale 2: src = 2(o + 0.5) − 0.5 = 0.5, 2.5 → the means of (0, 1) and (2, 3).
        Assert.Equal(new[] { 1.5f, 3.5f }, Resize([1f, 2f, 3f, 4f], 1, 1, 4, 1, 1, 2));
    }

    [Theory]
    [InlineData(5, 7, 9, 8, 32, 32)]
    [InlineData(40, 50, 60, 8, 32, 32)]
    [InlineData(3, 1, 4, 6, 5, 2)]
    [InlineData(13, 30, 28, 32, 64, 64)]
    public void LinearRampsAreReproduced(int d, int h, int w, int od, int oh, int ow)
    {
        // A linear function of the voxel index is interpolated exactly at the (clamped) source coordinates.
        static double F(double z, double y, double x) => 0.25 + 0.5 * z - 0.125 * y + 0.0625 * x;
        var src = new float[d * h * w];
        for (int z = 0; z < d; z++)
        {
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    src[(z * h + y) * w + x] = (float)F(z, y, x);
                }
            }
        }

        var dst = Resize(src, d, h, w, od, oh, ow);
        static double S(int o, int n, int m) => Math.Clamp((o + 0.5) * n / m - 0.5, 0, n - 1);
        for (int z = 0; z < od; z++)
        {
            for (int y = 0; y < oh; y++)
            {
                for (int x = 0; x < ow; x++)
                {
                    double e = F(S(z, d, od), S(y, h, oh), S(x, w, ow));
                    Assert.True(Math.Abs(dst[(z * oh + y) * ow + x] - e) <= 1e-5 + 1e-5 * Math.Abs(e),
                        $"({z}, {y}, {x}): {dst[(z * oh + y) * ow + x]} vs {e}");
                }
            }
        }
    }

    [Fact]
    public void ConstantStaysConstant()
    {
        var src = Enumerable.Repeat(0.3712f, 7 * 11 * 13).ToArray();
        Assert.All(Resize(src, 7, 11, 13, 32, 256, 256), v => Assert.True(Math.Abs(v - 0.3712f) <= 1e-7f));
    }

    [Fact]
    public void MatchingSizeIsAnExactCopy()
    {
        var src = Random01(8 * 32 * 32, 5);
        Assert.Equal(src, Resize(src, 8, 32, 32, 8, 32, 32));
    }

    [Theory]
    [InlineData(9, 17, 23, 8, 32, 32, 1)]
    [InlineData(40, 70, 50, 32, 64, 64, 2)]
    [InlineData(4, 4, 4, 1, 1, 1, 3)]
    public void MatchesAnIndependentFloat64TrilinearFormula(int d, int h, int w, int od, int oh, int ow, int seed)
    {
        // Reference: the 8-corner weighted sum Σ (1−|Δz|)(1−|Δy|)(1−|Δx|) v over the clamped taps, in float64.
        var src = Random01(d * h * w, seed);
        var dst = Resize(src, d, h, w, od, oh, ow);
        static (int I0, int I1, double L) Taps(int o, int n, int m)
        {
            double s = Math.Max((o + 0.5) * n / m - 0.5, 0);
            int i0 = Math.Min((int)Math.Floor(s), n - 1);
            return (i0, Math.Min(i0 + 1, n - 1), s - i0);
        }

        double sq = 0;
        double err = 0;
        for (int z = 0; z < od; z++)
        {
            var tz = Taps(z, d, od);
            for (int y = 0; y < oh; y++)
            {
                var ty = Taps(y, h, oh);
                for (int x = 0; x < ow; x++)
                {
                    var tx = Taps(x, w, ow);
                    double e = 0;
                    foreach (var (zi, wz) in new[] { (tz.I0, 1 - tz.L), (tz.I1, tz.L) })
                    {
                        foreach (var (yi, wy) in new[] { (ty.I0, 1 - ty.L), (ty.I1, ty.L) })
                        {
                            foreach (var (xi, wx) in new[] { (tx.I0, 1 - tx.L), (tx.I1, tx.L) })
                            {
                                e += wz * wy * wx * src[(zi * h + yi) * w + xi];
                            }
                        }
                    }

                    double got = dst[(z * oh + y) * ow + x];
                    Assert.True(Math.Abs(got - e) <= 1e-5 + 1e-4 * Math.Abs(e), $"({z}, {y}, {x}): {got} vs {e}");
                    err += (got - e) * (got - e);
                    sq += e * e;
                }
            }
        }

        Assert.True(err / sq <= 1e-12, $"NMSE {err / sq}");
    }

    [Fact]
    public void SourceCoordinateAndTaps()
    {
        Assert.Equal(0f, Preprocess.SourceCoordinate(0, 2, 4));
        Assert.Equal(1.25f, Preprocess.SourceCoordinate(3, 2, 4));
        Assert.Equal(2.5f, Preprocess.SourceCoordinate(1, 4, 2));
        Span<int> i0 = stackalloc int[4];
        Span<int> i1 = stackalloc int[4];
        Span<float> l = stackalloc float[4];
        Preprocess.LinearTaps(2, 4, i0, i1, l);
        Assert.Equal(new[] { 0, 0, 0, 1 }, i0.ToArray());
        Assert.Equal(new[] { 1, 1, 1, 1 }, i1.ToArray());
        Assert.Equal(new[] { 0f, 0.25f, 0.75f, 0.25f }, l.ToArray());
    }

    [Fact]
    public void MinMaxNormalize_SubtractsMinThenDividesByTheShiftedMax()
    {
        var rng = new Random(11);
        var x = Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() * 3000 - 1024)).ToArray();
        float min = x.Min();
        float range = x.Max() - min;
        var y = (float[])x.Clone();
        Preprocess.MinMaxNormalize(y);
        Assert.Equal(0f, y.Min());
        Assert.Equal(1f, y.Max());
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal((x[i] - min) / range, y[i]);
        }

        var constant = Enumerable.Repeat(5f, 10).ToArray();
        Preprocess.MinMaxNormalize(constant);
        Assert.All(constant, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void WindowClamps()
    {
        var x = new[] { -3000f, -1000f, 0f, 999f, 1000f, 5000f };
        Preprocess.Window(x, -1000f, 1000f);
        Assert.Equal(new[] { -1000f, -1000f, 0f, 999f, 1000f, 1000f }, x);
        Assert.Throws<ArgumentException>(() => Preprocess.Window(x, 5f, 5f));
    }

    [Fact]
    public void ForegroundBox_IsTheBoundingBoxOfPositiveVoxels_OrOverChannels()
    {
        const int d = 5, h = 6, w = 7;
        var x = new float[2 * d * h * w];
        x[(1 * h + 2) * w + 3] = 0.5f; // channel 0, (1, 2, 3)
        x[d * h * w + (3 * h + 4) * w + 1] = 1e-30f; // channel 1, (3, 4, 1): tiny but > 0
        x[(4 * h + 5) * w + 6] = -1f; // negative: not foreground
        Assert.Equal(new CropBox(1, 4, 2, 5, 1, 4), Preprocess.ForegroundBox(x, 2, d, h, w));
        Assert.Equal(new CropBox(1, 2, 2, 3, 3, 4), Preprocess.ForegroundBox(x.AsSpan(0, d * h * w), 1, d, h, w));
        Assert.True(Preprocess.ForegroundBox(new float[d * h * w], 1, d, h, w).IsEmpty);

        var cropped = new float[2 * 3 * 3 * 3];
        Preprocess.Crop(x, 2, d, h, w, new CropBox(1, 4, 2, 5, 1, 4), cropped);
        Assert.Equal(0.5f, cropped[(0 * 3 + 0) * 3 + 2]);
        Assert.Equal(1e-30f, cropped[27 + (2 * 3 + 2) * 3 + 0]);
    }

    [Fact]
    public void Run_CropsTheForegroundThenResizes()
    {
        // A 2×2×2 block of ones inside zeros crops to itself; resized to 4×4×4 it stays all ones.
        var x = new float[6 * 6 * 6];
        for (int z = 2; z < 4; z++)
        {
            for (int y = 1; y < 3; y++)
            {
                for (int c = 3; c < 5; c++)
                {
                    x[(z * 6 + y) * 6 + c] = 1f;
                }
            }
        }

        var r = Preprocess.Run(x, 6, 6, 6, new PreprocessOptions(4, 4, 4));
        Assert.Equal(new CropBox(2, 4, 1, 3, 3, 5), r.Crop);
        Assert.All(r.Data, v => Assert.Equal(1f, v));
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void Run_AllZeroVolume_ResizesTheWholeVolumeWithAWarning()
    {
        var v = new Volume(new float[4 * 5 * 6], 4, 5, 6, "zeros.npy", VolumeFileFormat.Npy);
        var r = Preprocess.Run(v, new PreprocessOptions(8, 32, 32));
        Assert.Equal(Preprocess.NoForegroundWarning, Assert.Single(r.Warnings));
        Assert.Equal(CropBox.Full(4, 5, 6), r.Crop);
        Assert.Equal(8 * 32 * 32, r.Data.Length);
        Assert.All(r.Data, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void Auto_KeepsNpyInZeroOneAndScalesNiftiDicomAndOtherNpy()
    {
        var target = new PreprocessOptions(8, 32, 32);
        var inRange = Random01(8 * 32 * 32, 3).Select(v => v * 0.9f + 0.05f).ToArray(); // in (0, 1): all foreground
        var npy = Preprocess.Run(new Volume((float[])inRange.Clone(), 8, 32, 32, "a.npy", VolumeFileFormat.Npy), target);
        Assert.Equal(inRange, npy.Data);
        Assert.Empty(npy.Warnings);
        Assert.StartsWith("kept as is: values already in [0, 1]", npy.Intensity);

        var data = Random01(8 * 32 * 32, 3).Select(v => v * 2f + 0.5f).ToArray(); // in [0.5, 2.5]: all foreground
        var expected = (float[])data.Clone();
        Preprocess.MinMaxNormalize(expected);
        var box = Preprocess.ForegroundBox(expected, 1, 8, 32, 32); // the minimum voxel became 0 and may shrink the box
        foreach (var format in new[] { VolumeFileFormat.Nifti1, VolumeFileFormat.Nifti2, VolumeFileFormat.Dicom })
        {
            var r = Preprocess.Run(new Volume((float[])data.Clone(), 8, 32, 32, "a", format), target);
            Assert.Equal(box, r.Crop);
            Assert.Equal(0f, r.Data.Min());
            Assert.Empty(r.Warnings);
        }

        // An .npy outside [0, 1] (e.g. raw Hounsfield units) is scaled, and the warning says so.
        var raw = Preprocess.Run(new Volume((float[])data.Clone(), 8, 32, 32, "a.npy", VolumeFileFormat.Npy), target);
        var nii = Preprocess.Run(new Volume((float[])data.Clone(), 8, 32, 32, "a.nii", VolumeFileFormat.Nifti1), target);
        Assert.Equal(nii.Data, raw.Data);
        Assert.StartsWith("values span [0.5", Assert.Single(raw.Warnings));
        Assert.Contains("min–max scaled to [0, 1]", raw.Warnings[0]);

        var forced = Preprocess.Run(new Volume((float[])inRange.Clone(), 8, 32, 32, "a.npy", VolumeFileFormat.Npy),
            target with { Intensity = IntensityMode.MinMax });
        var normalised = (float[])inRange.Clone();
        Preprocess.MinMaxNormalize(normalised);
        var boxed = new float[8 * 32 * 32];
        Preprocess.ResizeTrilinear(normalised, 8, 32, 32, Preprocess.ForegroundBox(normalised, 1, 8, 32, 32), boxed, 8, 32, 32);
        Assert.Equal(boxed, forced.Data);
        var off = Preprocess.Run(new Volume((float[])data.Clone(), 8, 32, 32, "a.nii", VolumeFileFormat.Nifti1),
            target with { Intensity = IntensityMode.AsIs });
        Assert.Equal(data, off.Data);
        Assert.StartsWith("as is", off.Intensity);
    }

    [Fact]
    public void InPlaceGivesTheSameBitsAsACopyAndWritesTheVolume()
    {
        var data = Random01(6 * 10 * 12, 7).Select(v => v * 3000f - 1000f).ToArray(); // HU-like
        var target = new PreprocessOptions(4, 8, 8) { Window = (-160f, 240f) };
        var copy = Preprocess.Run(new Volume((float[])data.Clone(), 6, 10, 12, "a.nii", VolumeFileFormat.Nifti1), target);
        var own = (float[])data.Clone();
        var inPlace = Preprocess.Run(new Volume(own, 6, 10, 12, "a.nii", VolumeFileFormat.Nifti1), target with { InPlace = true });
        Assert.Equal(copy.Data, inPlace.Data);
        Assert.Equal(copy.Crop, inPlace.Crop);

        // The array now holds the windowed, scaled values; the copying run left its input alone.
        var expected = (float[])data.Clone();
        Preprocess.Window(expected, -160f, 240f);
        Preprocess.MinMaxNormalize(expected);
        Assert.Equal(expected, own);
        Assert.Equal("window [-160, 240], then min–max [-160, 240] → [0, 1]", copy.Intensity);
    }

    [Fact]
    public void Monochrome1IsInvertedAfterScalingButNotAsIs()
    {
        var data = Random01(4 * 6 * 6, 9).Select(v => v * 100f).ToArray();
        var target = new PreprocessOptions(4, 6, 6);
        var plain = Preprocess.Run(new Volume((float[])data.Clone(), 4, 6, 6, "a", VolumeFileFormat.Dicom), target);
        var inverted = Preprocess.Run(new Volume((float[])data.Clone(), 4, 6, 6, "a", VolumeFileFormat.Dicom) { DisplayInverted = true },
            target);
        var scaled = (float[])data.Clone();
        Preprocess.MinMaxNormalize(scaled);
        var flipped = scaled.Select(x => 1f - x).ToArray();
        var box = Preprocess.ForegroundBox(flipped, 1, 4, 6, 6);
        var expected = new float[4 * 6 * 6];
        Preprocess.ResizeTrilinear(flipped, 4, 6, 6, box, expected, 4, 6, 6);
        Assert.Equal(expected, inverted.Data);
        Assert.EndsWith("then 1 − x (MONOCHROME1)", inverted.Intensity);
        Assert.DoesNotContain("MONOCHROME1", plain.Intensity);

        var asIs = Preprocess.Run(new Volume((float[])data.Clone(), 4, 6, 6, "a", VolumeFileFormat.Dicom) { DisplayInverted = true },
            target with { Intensity = IntensityMode.AsIs });
        Assert.Contains(asIs.Warnings, w => w.StartsWith("MONOCHROME1", StringComparison.Ordinal));
    }

    [Fact]
    public void WindowCannotBeCombinedWithAsIsAndTheSizeComesFromTheCheckpoint()
    {
        var v = new Volume(new float[8], 2, 2, 2, "a", VolumeFileFormat.InMemory);
        Assert.Throws<ArgumentException>(() => Preprocess.Run(v,
            new PreprocessOptions(2, 2, 2) { Window = (0f, 1f), Intensity = IntensityMode.AsIs }));
        var config = Models.Config.M3dClipConfig.Load(Path.Combine(TestData.Root, "med2e3-tiny", "checkpoint", "vision3d_model", "config.json"));
        var options = PreprocessOptions.For(config);
        Assert.Equal((8, 32, 32), (options.TargetDepth, options.TargetHeight, options.TargetWidth));
        Assert.Throws<ArgumentException>(() => PreprocessOptions.ForImageSize([8, 32]));
    }

    [Fact]
    public void InputAffineMapsEveryModelVoxelOntoItsSourcePoint()
    {
        var rng = new Random(5);
        var source = new double[4, 4];
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                source[r, c] = rng.NextDouble() * 4 - 2;
            }
        }

        source[3, 3] = 1;
        var box = new CropBox(3, 17, 5, 40, 2, 30);
        var a = Preprocess.InputAffine(source, box, 8, 16, 12);
        foreach (var (d, h, w) in new[] { (0, 0, 0), (7, 15, 11), (3, 9, 4) })
        {
            // align_corners = False: output o samples input box₀ + (o + ½)·n/m − ½.
            double sd = box.D0 + (d + 0.5) * box.Depth / 8.0 - 0.5;
            double sh = box.H0 + (h + 0.5) * box.Height / 16.0 - 0.5;
            double sw = box.W0 + (w + 0.5) * box.Width / 12.0 - 0.5;
            for (int r = 0; r < 3; r++)
            {
                double expected = source[r, 0] * sw + source[r, 1] * sh + source[r, 2] * sd + source[r, 3];
                double actual = a[r, 0] * w + a[r, 1] * h + a[r, 2] * d + a[r, 3];
                Assert.Equal(expected, actual, 1e-9);
            }
        }
    }

    [Fact]
    public void Run_WindowThenNormaliseTurnsTheCtSampleIntoTheM3DSample()
    {
        var nii = NiftiReader.Read(TestData.Volume(SampleVolumes.TestNiftiFileName));
        var npy = NpyReader.Read(TestData.Volume(SampleVolumes.TestNpyFileName));
        var options = new PreprocessOptions(8, 32, 32) { Window = Phantom.SoftTissueWindow };
        var a = Preprocess.Run(nii, options);
        var b = Preprocess.Run(npy, options with { Window = null });
        Assert.Equal(b.Crop, a.Crop);
        Assert.Equal(b.Data, a.Data);
        Assert.NotEqual(CropBox.Full(8, 32, 32), a.Crop); // the air around the body was cropped
    }

    [Fact]
    public void Run_TheTinyFixtureInputIsAlreadyModelSized()
    {
        // golden.safetensors → input.volume (1, 1, 8, 32, 32): preprocessing with the tiny target is the identity.
        var (shape, data) = Safetensors.ReadF32(Path.Combine(TestData.Root, "med2e3-tiny", "golden.safetensors"), "input.volume");
        Assert.Equal(new long[] { 1, 1, 8, 32, 32 }, shape);
        var r = Preprocess.Run(data, 8, 32, 32, new PreprocessOptions(8, 32, 32));
        Assert.Equal(CropBox.Full(8, 32, 32), r.Crop);
        Assert.Equal(data, r.Data);
    }

    [Fact]
    public void Bf16_RoundsToNearestEven()
    {
        static float Bits(uint u) => BitConverter.UInt32BitsToSingle(u);
        Assert.Equal(1f, Preprocess.RoundToBf16(1f));
        Assert.Equal(1f, Preprocess.RoundToBf16(Bits(0x3F808000))); // exactly halfway, even neighbour 0x3F80
        Assert.Equal(Bits(0x3F820000), Preprocess.RoundToBf16(Bits(0x3F818000))); // halfway, odd 0x3F81 → 0x3F82
        Assert.Equal(Bits(0x3F810000), Preprocess.RoundToBf16(Bits(0x3F808001))); // just above halfway
        Assert.Equal(Bits(0xBF810000), Preprocess.RoundToBf16(Bits(0xBF808001)));
        Assert.Equal(float.PositiveInfinity, Preprocess.RoundToBf16(float.MaxValue));
        Assert.True(float.IsNaN(Preprocess.RoundToBf16(float.NaN)));

        // Against a float64 oracle: the nearer of the two bf16 neighbours (ties to the even one).
        var rng = new Random(17);
        for (int n = 0; n < 10000; n++)
        {
            float x = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 20)));
            uint bits = BitConverter.SingleToUInt32Bits(x);
            float lo = Bits(bits & 0xFFFF0000u);
            float hi = Bits((bits & 0xFFFF0000u) + 0x10000u);
            double dl = Math.Abs((double)x - lo);
            double dh = Math.Abs((double)hi - x);
            float expect = dl < dh ? lo : dh < dl ? hi : ((bits >> 16) & 1) == 0 ? lo : hi;
            Assert.Equal(expect, Preprocess.RoundToBf16(x));
        }

        var r = Preprocess.Run(Random01(64, 1), 4, 4, 4, new PreprocessOptions(4, 4, 4) { RoundToBf16 = true });
        Assert.All(r.Data, v => Assert.Equal(0u, BitConverter.SingleToUInt32Bits(v) & 0xFFFF));
    }

    [Fact]
    public void AVolumeIsReadAndPreprocessedWithoutASecondFullSizeArray()
    {
        // 40×100×120 int16 stored RAS (every axis reversed on the way in): the reader allocates the float volume and
        // its 1 MiB chunk buffers; in-place preprocessing allocates the output and the resize taps, not another volume.
        const int d = 40, h = 100, w = 120;
        var rng = new Random(4);
        var stored = Enumerable.Range(0, d * h * w).Select(_ => (double)rng.Next(-1000, 1500)).ToArray();
        var b = new NiftiBuilder
        {
            Dim = [3, w, h, d, 1, 1, 1, 1],
            Datatype = 4,
            Bitpix = 16,
            QformCode = 1,
            Pixdim = [1, 0.7, 0.7, 2.5, 1, 1, 1, 1],
            Data = Encode.Values(stored, "i2", false),
        }.Build();
        using var dir = new TempDir();
        string path = dir.Write("big.nii", b);
        long volumeBytes = 4L * d * h * w;

        long start = GC.GetAllocatedBytesForCurrentThread();
        var v = VolumeReader.Read(path);
        long read = GC.GetAllocatedBytesForCurrentThread() - start;
        Assert.True(read < volumeBytes + (3 << 20), $"reading allocated {read} bytes for a {volumeBytes}-byte volume");

        start = GC.GetAllocatedBytesForCurrentThread();
        var r = Preprocess.Run(v, new PreprocessOptions(8, 32, 32) { Window = (-160f, 240f), InPlace = true });
        long prepared = GC.GetAllocatedBytesForCurrentThread() - start;
        Assert.True(prepared < 4 * 8 * 32 * 32 + (1 << 20), $"preprocessing in place allocated {prepared} bytes");

        // Without InPlace the crop is the one extra array (here the body fills the whole volume).
        var copy = VolumeReader.Read(path);
        start = GC.GetAllocatedBytesForCurrentThread();
        var r2 = Preprocess.Run(copy, new PreprocessOptions(8, 32, 32) { Window = (-160f, 240f) });
        long copied = GC.GetAllocatedBytesForCurrentThread() - start;
        long crop = 4L * r2.Crop.Depth * r2.Crop.Height * r2.Crop.Width;
        Assert.True(copied < crop + 4 * 8 * 32 * 32 + (1 << 20), $"preprocessing a copy allocated {copied} bytes, crop {crop}");
        Assert.Equal(r2.Data, r.Data);
    }
}
