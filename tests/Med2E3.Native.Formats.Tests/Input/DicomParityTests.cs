using System.IO.Compression;
using System.Text.Json;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Formats.Volumes.Dicom;

namespace Med2E3.Native.Tests.Input;

/// <summary>
/// The DICOM reader against its oracles, on the fixtures of <c>tests/data/dicom/</c>: every file decoded as pydicom
/// decodes it (modality values, tags), every series assembled as dcm2niix converts it (read back through nibabel into
/// the canonical layout), and every hostile or unsupported file refused with its message. The expected values were
/// written by <c>scripts/oracles/dicom_fixtures.py</c> from pydicom, gdcm, dcm2niix and nibabel, not by this code.
/// </summary>
public class DicomParityTests(ITestOutputHelper output)
{
    private static readonly string Root = Path.Combine(TestData.Root, "dicom");

    private static JsonElement Json(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "expected", name))).RootElement;

    internal static float[] Values(string name)
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(Root, "expected", name)), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(ms.ToArray()).ToArray();
    }

    private static double[]? Numbers(JsonElement e) =>
        e.ValueKind == JsonValueKind.Null ? null : [.. e.EnumerateArray().Select(x => x.GetDouble())];

    [Fact]
    public void EveryFileDecodesAsPydicomDecodesIt()
    {
        var table = new SortedDictionary<string, (int Files, double MaxDiff)>(StringComparer.Ordinal);
        foreach (var c in Json("decode.json").GetProperty("files").EnumerateArray())
        {
            string rel = c.GetProperty("file").GetString()!;
            var file = DicomFile.Open(Path.Combine(Root, rel));
            Assert.Equal(c.GetProperty("transfer_syntax").GetString(), file.TransferSyntax.Uid);
            Assert.Equal(c.GetProperty("rows").GetInt32(), file.Rows);
            Assert.Equal(c.GetProperty("columns").GetInt32(), file.Columns);
            Assert.Equal(c.GetProperty("frames").GetInt32(), file.FrameCount);
            Assert.Equal(c.GetProperty("photometric").GetString(), file.Photometric);
            Assert.Equal(c.GetProperty("bits_allocated").GetInt32(), file.Dataset.GetInt(DicomTags.BitsAllocated));
            Assert.Equal(c.GetProperty("bits_stored").GetInt32(), file.Dataset.GetInt(DicomTags.BitsStored));
            Assert.Equal(c.GetProperty("high_bit").GetInt32(), file.Dataset.GetInt(DicomTags.HighBit));
            Assert.Equal(c.GetProperty("pixel_representation").GetInt32(), file.Dataset.GetInt(DicomTags.PixelRepresentation));
            Assert.Equal(c.GetProperty("series_uid").GetString(), file.Dataset.GetString(DicomTags.SeriesInstanceUid) ?? "");
            Assert.Equal(Numbers(c.GetProperty("position")), file.Dataset.GetNumbers(DicomTags.ImagePositionPatient));
            Assert.Equal(Numbers(c.GetProperty("orientation")), file.Dataset.GetNumbers(DicomTags.ImageOrientationPatient));
            Assert.Equal(Numbers(c.GetProperty("pixel_spacing")), file.Dataset.GetNumbers(DicomTags.PixelSpacing));

            float[] expected = Values(c.GetProperty("values").GetString()!);
            int pixels = file.Rows * file.Columns;
            Assert.Equal(file.FrameCount * pixels, expected.Length);
            double maxDiff = 0;
            int decoded = 0;
            file.ReadFrames(file.Frames(), (f, values) =>
            {
                for (int i = 0; i < pixels; i++)
                {
                    float e = expected[f * pixels + i];
                    maxDiff = Math.Max(maxDiff, Math.Abs(values[i] - e));
                    Assert.True(e == values[i], $"{rel} frame {f} pixel {i}: {values[i]}, pydicom {e}");
                }

                decoded++;
            });
            Assert.Equal(file.FrameCount, decoded);
            string syntax = file.TransferSyntax.Name;
            var (n, max) = table.GetValueOrDefault(syntax);
            table[syntax] = (n + 1, Math.Max(max, maxDiff));
        }

        foreach (var (syntax, (files, max)) in table)
        {
            output.WriteLine($"{syntax}: {files} files identical to pydicom, max |value − pydicom| = {max}");
        }

        Assert.Equal(DicomTransferSyntax.Supported.Count, table.Count);
    }

    [Fact]
    public void EverySeriesIsAssembledAsDcm2niixConvertsIt()
    {
        foreach (var s in Json("series.json").GetProperty("series").EnumerateArray())
        {
            string name = s.GetProperty("name").GetString()!;
            var v = VolumeReader.Read(Path.Combine(Root, s.GetProperty("folder").GetString()!));
            int[] shape = [.. s.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32())];
            Assert.Equal(VolumeFileFormat.Dicom, v.Format);
            Assert.True((shape[0], shape[1], shape[2]) == (v.Depth, v.Height, v.Width),
                $"{name}: {v.Depth}×{v.Height}×{v.Width}, dcm2niix {string.Join('×', shape)}");
            float[] expected = Values(s.GetProperty("values").GetString()!);
            double maxDiff = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(v.Data[i] - expected[i]));
            }

            Assert.True(maxDiff == 0, $"{name}: max |voxel − dcm2niix| = {maxDiff}");

            // dcm2niix writes the affine as float32; unevenly spaced stacks differ on purpose in the slice step.
            bool uneven = s.GetProperty("uneven").GetBoolean();
            var affine = s.GetProperty("affine").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
            double maxAffine = 0;
            for (int r = 0; r < 3; r++)
            {
                for (int k = 0; k < 4; k++)
                {
                    if (uneven && k is 2 or 3)
                    {
                        continue;
                    }

                    maxAffine = Math.Max(maxAffine, Math.Abs(v.Affine![r, k] - affine[r][k]));
                }
            }

            Assert.True(maxAffine < 1e-3, $"{name}: max |affine − dcm2niix| = {maxAffine} mm");
            if (uneven)
            {
                Assert.Equal(s.GetProperty("mean_step_mm").GetDouble(), v.SpacingMm!.Value.D, 1e-6);
            }

            var spacing = Numbers(s.GetProperty("spacing"))!;
            if (!uneven)
            {
                Assert.Equal(spacing[0], v.SpacingMm!.Value.D, 1e-3);
            }

            Assert.Equal(spacing[1], v.SpacingMm!.Value.H, 1e-4);
            Assert.Equal(spacing[2], v.SpacingMm!.Value.W, 1e-4);

            var expectWarnings = s.GetProperty("expect_warnings").EnumerateArray().Select(e => e.GetString()!).ToList();
            foreach (string w in expectWarnings)
            {
                Assert.Contains(v.Warnings, x => x.StartsWith(w, StringComparison.Ordinal));
            }

            if (expectWarnings.Count == 0)
            {
                Assert.Empty(v.Warnings);
            }

            output.WriteLine($"{name} ({s.GetProperty("oracle").GetString()}): {v.Depth}×{v.Height}×{v.Width}, " +
                $"max |voxel − oracle| = {maxDiff}, max |affine − oracle| = {maxAffine:g3} mm" +
                (v.Warnings.Count > 0 ? $"; warnings: {string.Join(" | ", v.Warnings)}" : ""));
        }
    }

    [Fact]
    public void HostileAndUnsupportedFilesAreRefusedByName()
    {
        foreach (var c in Json("decode.json").GetProperty("refused").EnumerateArray())
        {
            string path = Path.Combine(Root, c.GetProperty("file").GetString()!);
            var e = Assert.ThrowsAny<VolumeFormatException>(() => VolumeReader.Read(path));
            Assert.Equal(path, e.FilePath);
            Assert.DoesNotContain('\n', e.Message);
            Assert.True(e.Message.Length < 600, e.Message);
            Assert.StartsWith(c.GetProperty("message").GetString()!, e.Problem);
        }
    }
}
