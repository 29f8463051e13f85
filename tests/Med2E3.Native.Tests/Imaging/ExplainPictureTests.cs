using System.Buffers.Binary;
using Med2E3.Native.Models.Imaging;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Tests.Input;

namespace Med2E3.Native.Tests.Imaging;

public class ExplainPictureTests
{
    private static float[] Softmax(int d, int seed)
    {
        var rng = new Random(seed);
        var logits = Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 3).ToArray();
        double z = logits.Sum(Math.Exp);
        return [.. logits.Select(l => (float)(Math.Exp(l) / z))];
    }

    /// <summary>Checks the PNG signature and chunk CRCs, and returns the IHDR fields.</summary>
    private static (int Width, int Height, byte BitDepth, byte ColorType) ReadPng(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int at = 8;
        (int, int, byte, byte)? ihdr = null;
        bool end = false;
        while (at < png.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + len));
            Assert.Equal(Crc32(png.AsSpan(at + 4, 4 + len)), crc);
            if (type == "IHDR")
            {
                var h = png.AsSpan(at + 8, len);
                ihdr = (BinaryPrimitives.ReadInt32BigEndian(h), BinaryPrimitives.ReadInt32BigEndian(h[4..]), h[8], h[9]);
            }

            end = type == "IEND";
            at += 12 + len;
        }

        Assert.True(end);
        return ihdr ?? throw new InvalidDataException("no IHDR");
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
        }

        return c ^ 0xFFFFFFFFu;
    }

    [Theory]
    [InlineData(8, 32, 32)]
    [InlineData(32, 256, 256)]
    [InlineData(5, 20, 40)]
    public void WritesAValidPngOfTheAnnouncedSize(int d, int h, int w)
    {
        using var dir = new TempDir();
        var volume = Phantom.M3DStyle(d, h, w);
        var scores = Softmax(d, d);
        string question = "Is there a lesion in the liver? Describe its location and attenuation.";
        string answer = string.Join(' ', Enumerable.Repeat("A hypodense lesion in the right hepatic lobe.", 6));
        string path = Path.Combine(dir.Path, "sub", "explain.png");
        ExplainPicture.Render(volume, d, h, w, scores, question, answer, path);
        var (width, height, depth, color) = ReadPng(File.ReadAllBytes(path));
        Assert.Equal(ExplainPicture.Size(d, h, w, question, answer), (width, height));
        Assert.Equal(ExplainPicture.CanvasWidth, width);
        Assert.Equal(8, depth);
        Assert.Contains(color, new byte[] { 2, 6 }); // RGB or RGBA
        Assert.True(new FileInfo(path).Length < 2_000_000);
    }

    [Fact]
    public void LongerCaptionsMakeTallerPictures()
    {
        var (_, one) = ExplainPicture.Size(8, 32, 32, "short?", "yes");
        var (_, many) = ExplainPicture.Size(8, 32, 32, "short?", string.Join(' ', Enumerable.Repeat("word", 400)));
        Assert.True(many > one + 100, $"{many} vs {one}");
        var (_, more) = ExplainPicture.Size(32, 256, 256, "short?", "yes");
        Assert.True(more > one + 300);
    }

    [Fact]
    public void TextIsActuallyDrawn()
    {
        // The caption band must hold light (text-coloured) pixels: the embedded font rendered.
        var png = ExplainPicture.RenderPng(Phantom.M3DStyle(8, 32, 32), 8, 32, 32, Softmax(8, 1), "Where?", "Liver.");
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        int light = 0;
        for (int y = 20; y < 120; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Red > 200 && c.Green > 200 && c.Blue > 200)
                {
                    light++;
                }
            }
        }

        Assert.True(light > 300, $"{light} light pixels in the caption band");
    }

    [Fact]
    public void ShortOverloadInfersSquareSlices()
    {
        using var dir = new TempDir();
        string path = dir.File("x.png");
        ExplainPicture.Render(Phantom.M3DStyle(8, 32, 32), Softmax(8, 2), "q", "a", path);
        Assert.Equal(ExplainPicture.Size(8, 32, 32, "q", "a"), (ReadPng(File.ReadAllBytes(path)).Width, ReadPng(File.ReadAllBytes(path)).Height));
    }

    [Fact]
    public void TopSlicesAreTheHighestScoresAboveUniformFirst()
    {
        Assert.Equal(new[] { 2, 0 }, ExplainPicture.TopSlices([0.3f, 0.1f, 0.4f, 0.2f], 3)); // 0.2 < 1/4
        Assert.Equal(new[] { 4, 1, 3 }, ExplainPicture.TopSlices([0.05f, 0.2f, 0.05f, 0.15f, 0.3f, 0.1f, 0.1f, 0.05f], 3));
    }

    [Fact]
    public void EqualScoresMarkNoSliceAndATieAtTheCutMarksOnlyTheSlicesAboveIt()
    {
        Assert.Empty(ExplainPicture.TopSlices(Enumerable.Repeat(1f / 8, 8).ToArray(), 3));
        Assert.Empty(ExplainPicture.TopSlices([0.25f, 0.25f, 0.25f, 0.25000003f], 3)); // equal to the last bit
        // The demo's random weights: every score within 0.2% of 1/8.
        Assert.Empty(ExplainPicture.TopSlices([0.12512206f, 0.12502334f, 0.12501223f, 0.12492261f, 0.12484393f, 0.12501009f,
            0.124995984f, 0.12506972f], 3));
        // Two places, and 0.25 is shared by slices 1 and 2: only the slice above the tie is marked.
        Assert.Equal(new[] { 0 }, ExplainPicture.TopSlices([0.4f, 0.25f, 0.25f, 0.05f, 0.05f], 2));
        Assert.Equal(new[] { 0, 1, 2 }, ExplainPicture.TopSlices([0.4f, 0.25f, 0.25f, 0.05f, 0.05f], 3));
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        var v = new float[8 * 32 * 32];
        Assert.Throws<ArgumentException>(() => ExplainPicture.RenderPng(v, 8, 32, 32, new float[7], "q", "a"));
        Assert.Throws<ArgumentException>(() => ExplainPicture.RenderPng(v, 8, 32, 31, new float[8], "q", "a"));
        Assert.Throws<ArgumentException>(() => ExplainPicture.RenderPng(v, 8, 32, 32, [.. new float[7], float.NaN], "q", "a"));
        Assert.Throws<ArgumentException>(() => ExplainPicture.Render(new float[8 * 32 * 33], new float[8], "q", "a", "x.png"));
    }

    /// <summary>
    /// docs/explain-example.png: the 32-slice phantom through the M3D-style pipeline, with scores peaked on the lesion
    /// slices. Set MED2E3_REGENERATE_SAMPLES=1 to redraw it; otherwise the committed file is checked.
    /// </summary>
    [Fact]
    public void DocsExampleIsAValidSmallPng()
    {
        string path = Path.Combine(TestData.Root, "..", "..", "docs", "explain-example.png");
        if (Environment.GetEnvironmentVariable("MED2E3_REGENERATE_SAMPLES") == "1")
        {
            var ct = new Volume(Phantom.CtHu(40, 320, 320), 40, 320, 320, "phantom", VolumeFileFormat.InMemory);
            var r = Preprocess.Run(ct, new PreprocessOptions(32, 256, 256) { Window = Phantom.SoftTissueWindow });
            var rng = new Random(4);
            var logits = Enumerable.Range(0, 32).Select(s => 2.2 * Math.Exp(-Math.Pow((s - 14.5) / 2.5, 2)) + 0.25 * rng.NextDouble()).ToArray();
            double z = logits.Sum(Math.Exp);
            var scores = logits.Select(l => (float)(Math.Exp(l) / z)).ToArray();
            ExplainPicture.Render(r.Data, scores,
                "Is there a lesion in the liver? If so, describe its location, size and attenuation compared with the surrounding parenchyma.",
                "Yes. There is a well-defined hypodense lesion in the right lobe of the liver, approximately 3 cm in diameter, " +
                "with lower attenuation than the surrounding liver parenchyma, most consistent with a simple cyst or a metastasis.",
                path);
        }

        var (width, _, _, _) = ReadPng(File.ReadAllBytes(path));
        Assert.Equal(ExplainPicture.CanvasWidth, width);
        Assert.True(new FileInfo(path).Length < 500_000);
    }
}
