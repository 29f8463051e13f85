using System.Globalization;

namespace Med2E3.Native.Formats.Volumes.Dicom;

/// <summary>
/// Reads a DICOM series into a <see cref="Volume"/>: from a folder tree of files (no DICOMDIR needed; non-DICOM
/// files, DICOMDIR files and non-image objects are skipped), or from one single- or multi-frame file.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Images are grouped into series by SeriesInstanceUID, image size and orientation (and each multi-frame file
/// on its own); a folder with several is refused with their list unless <see cref="VolumeReadOptions.Series"/> picks
/// one by UID or number.</item>
/// <item>Slices are sorted along the normal of ImageOrientationPatient (row × column direction) by the projection of
/// ImagePositionPatient on it. Duplicate positions are refused (several volumes in one series); missing slices,
/// non-uniform spacing and gantry tilt (slices sheared along the stack) each add a warning that says what was found.
/// The volume is the stack as acquired, not resampled; its affine is the stack's (first position, mean step).</item>
/// <item>Geometry: voxel (column i, row j, slice k) → LPS patient coordinates from the position, the orientation and
/// PixelSpacing, turned into RAS+ (x and y negated) and then into the canonical layout exactly as a NIfTI affine is
/// (<see cref="Orientation"/>), so a series and its NIfTI conversion give the same array.</item>
/// <item>Values: modality values (Hounsfield units for CT), see <see cref="DicomFile"/>; MONOCHROME1 marks the volume
/// <see cref="Volume.DisplayInverted"/>.</item>
/// </list>
/// </remarks>
public static class DicomSeriesReader
{
    private const string DicomDirClass = "1.2.840.10008.1.3.10";

    /// <summary>Reads the series of a DICOM file or folder.</summary>
    /// <exception cref="DicomSeriesChoiceException">a folder with several series and no (or no matching) choice.</exception>
    /// <exception cref="VolumeFormatException">no readable series, or a file that cannot be read.</exception>
    public static Volume Read(string path, VolumeReadOptions? options = null)
    {
        options ??= VolumeReadOptions.Default;
        if (options.Frame is > 0)
        {
            throw new VolumeFormatException(path,
                $"frame {options.Frame}: a DICOM series is read whole (frames of a multi-frame file are its slices)");
        }

        var (stacks, skipped) = Scan(path);
        var stack = Choose(path, stacks, skipped, options.Series);
        return Assemble(path, stack, options);
    }

    /// <summary>The series of a DICOM file or folder, as <see cref="Read"/> numbers them.</summary>
    public static IReadOnlyList<DicomSeriesInfo> List(string path) => [.. Scan(path).Stacks.Select(s => s.Info)];

    /// <summary>One stack: the frames of one series with one size and orientation.</summary>
    private sealed record Stack(DicomSeriesInfo Info, List<DicomFile> Files, List<DicomFrame> Frames);

    private static (List<Stack> Stacks, string Skipped) Scan(string path)
    {
        var files = new List<DicomFile>();
        int notDicom = 0, noImage = 0, dicomDir = 0, unsupported = 0;
        string? unsupportedReason = null;
        bool single = File.Exists(path);
        foreach (string file in Candidates(path))
        {
            if (!IsPart10(file))
            {
                if (single)
                {
                    DicomParser.ReadHeader(path); // throws the precise reason
                }

                notDicom++;
                continue;
            }

            DicomFile dicom;
            try
            {
                dicom = DicomParser.ReadHeader(file);
                if (dicom.HasPixelData)
                {
                    dicom.CheckImage();
                }
            }
            catch (DicomUnsupportedException e) when (!single)
            {
                unsupported++;
                unsupportedReason ??= $"{Path.GetFileName(file)} {e.Problem}";
                continue;
            }

            if (dicom.Meta.GetString(DicomTags.MediaStorageSopClassUid) == DicomDirClass)
            {
                dicomDir++;
                continue;
            }

            if (!dicom.HasPixelData)
            {
                if (single)
                {
                    dicom.CheckImage(); // throws "holds no image"
                }

                noImage++;
                continue;
            }

            files.Add(dicom);
        }

        var parts = new List<string>();
        if (notDicom > 0) parts.Add($"{notDicom} non-DICOM file(s)");
        if (dicomDir > 0) parts.Add($"{dicomDir} DICOMDIR file(s)");
        if (noImage > 0) parts.Add($"{noImage} DICOM file(s) without an image");
        if (unsupported > 0) parts.Add($"{unsupported} image(s) this reader does not decode, e.g. {unsupportedReason}");
        string skipped = parts.Count > 0 ? " (skipped: " + string.Join(", ", parts) + ")" : "";
        if (files.Count == 0)
        {
            throw new VolumeFormatException(path, $"no DICOM image found{skipped}");
        }

        // Group by series, size and orientation; a multi-frame file is a stack of its own.
        var groups = new Dictionary<string, (List<DicomFile> Files, List<DicomFrame> Frames)>();
        foreach (var file in files)
        {
            var frames = file.Frames();
            string orientation = frames[0].Orientation is { } o
                ? string.Join(",", o.Select(x => Math.Round(x, 3).ToString(CultureInfo.InvariantCulture)))
                : "none";
            string key = $"{file.Dataset.GetString(DicomTags.SeriesInstanceUid) ?? "(none)"}|{file.Rows}x{file.Columns}|" +
                $"{orientation}|{(file.FrameCount > 1 ? file.FilePath : "")}";
            if (!groups.TryGetValue(key, out var g))
            {
                g = ([], []);
                groups[key] = g;
            }

            g.Files.Add(file);
            g.Frames.AddRange(frames);
        }

        string root = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var ordered = groups.Values
            .Select(g => (g.Files, g.Frames, First: g.Files.OrderBy(f => f.FilePath, StringComparer.Ordinal).First()))
            .OrderBy(g => g.First.Dataset.GetInt(DicomTags.SeriesNumber) ?? int.MaxValue)
            .ThenBy(g => g.First.Dataset.GetString(DicomTags.SeriesInstanceUid), StringComparer.Ordinal)
            .ThenBy(g => g.First.FilePath, StringComparer.Ordinal)
            .ToList();
        var stacks = new List<Stack>();
        foreach (var (groupFiles, frames, first) in ordered)
        {
            var ds = first.Dataset;
            bool utf8 = ds.GetString(DicomTags.SpecificCharacterSet)?.Contains("ISO_IR 192", StringComparison.Ordinal) == true;
            string folder = Path.GetRelativePath(root, Path.GetDirectoryName(first.FilePath) ?? root);
            var info = new DicomSeriesInfo(stacks.Count + 1, ds.GetString(DicomTags.SeriesInstanceUid) ?? "(none)",
                ds.GetInt(DicomTags.SeriesNumber), Printable(ds.GetString(DicomTags.Modality)), Printable(ds.GetText(DicomTags.SeriesDescription, utf8)),
                frames.Count, groupFiles.Count, first.Rows, first.Columns, folder == "." ? "." : "./" + folder);
            stacks.Add(new Stack(info, groupFiles, frames));
        }

        return (stacks, skipped);
    }

    private static IEnumerable<string> Candidates(string path)
    {
        if (File.Exists(path))
        {
            yield return path;
            yield break;
        }

        if (!Directory.Exists(path))
        {
            throw new VolumeFormatException(path, "file or folder not found");
        }

        var enumeration = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            MaxRecursionDepth = DicomLimits.MaxFolderDepth,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.ReparsePoint | FileAttributes.Hidden | FileAttributes.System,
            ReturnSpecialDirectories = false,
        };
        int count = 0;
        foreach (string file in Directory.EnumerateFiles(path, "*", enumeration).Order(StringComparer.Ordinal))
        {
            if (++count > DicomLimits.MaxFiles)
            {
                throw new VolumeFormatException(path, $"more than {DicomLimits.MaxFiles} files under the folder");
            }

            yield return file;
        }
    }

    private static bool IsPart10(string file)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
            Span<byte> head = stackalloc byte[132];
            return StreamUtil.ReadAtMost(stream, head, file) == 132 && DicomParser.HasPart10Marker(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static Stack Choose(string path, List<Stack> stacks, string skipped, string? choice)
    {
        if (choice is null)
        {
            if (stacks.Count == 1)
            {
                return stacks[0];
            }

            throw Ambiguous(path, $"holds {stacks.Count} DICOM series{skipped}", stacks);
        }

        if (int.TryParse(choice, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && !choice.Contains('.'))
        {
            return number >= 1 && number <= stacks.Count
                ? stacks[number - 1]
                : throw Ambiguous(path, $"series {number} does not exist: the folder holds {stacks.Count} DICOM series", stacks);
        }

        var matching = stacks.Where(s => s.Info.SeriesInstanceUid == choice).ToList();
        return matching.Count switch
        {
            1 => matching[0],
            0 => throw Ambiguous(path, $"no DICOM series has SeriesInstanceUID {DicomDataset.Shorten(choice)}", stacks),
            _ => throw Ambiguous(path, $"SeriesInstanceUID {DicomDataset.Shorten(choice)} holds {matching.Count} stacks of different image size or " +
                "orientation; choose one by number", matching),
        };
    }

    private static DicomSeriesChoiceException Ambiguous(string path, string problem, List<Stack> stacks)
    {
        const int Shown = 20;
        string list = string.Join("; ", stacks.Take(Shown).Select(s => s.Info.ToString()));
        if (stacks.Count > Shown)
        {
            list += $"; and {stacks.Count - Shown} more";
        }

        return new DicomSeriesChoiceException(path, $"{problem}; {DicomSeriesChoiceException.LibraryHint}: {list}",
            [.. stacks.Select(s => s.Info)]);
    }

    private static Volume Assemble(string path, Stack stack, VolumeReadOptions options)
    {
        foreach (var file in stack.Files)
        {
            file.CheckImage();
        }

        var first = stack.Files[0];
        string photometric = first.Photometric;
        if (stack.Files.Any(f => f.Photometric != photometric))
        {
            throw new VolumeFormatException(path, $"series {stack.Info.SeriesInstanceUid} mixes MONOCHROME1 and MONOCHROME2 images");
        }

        int rows = first.Rows, columns = first.Columns;
        var warnings = new List<string>();
        var geometry = Geometry(path, stack);
        int slices = geometry.Order.Count;
        long limit = Math.Min(options.MaxVoxels, Array.MaxLength);
        if ((long)rows * columns * slices > limit)
        {
            throw new VolumeFormatException(path,
                $"the series is {columns}×{rows}×{slices} voxels, more than the limit of {limit}");
        }

        // Stored axes: i = column, j = row, k = slice in sorted order.
        double[,] m = geometry.Matrix ?? new double[,] { { -1, 0, 0, 0 }, { 0, -1, 0, 0 }, { 0, 0, 1, 0 } };
        var axes = Orientation.AxesFromMatrix(m) ?? throw new VolumeFormatException(path,
            "ImageOrientationPatient and the slice positions do not span three dimensions");
        var layout = Orientation.Layout(columns, rows, slices, axes.WorldAxis, axes.Sign);
        var data = new float[(long)columns * rows * slices];
        var sliceOf = new Dictionary<(DicomFile, int), int>();
        for (int k = 0; k < slices; k++)
        {
            sliceOf[(geometry.Order[k].File, geometry.Order[k].Index)] = k;
        }

        var framesOf = stack.Frames.GroupBy(f => f.File).ToDictionary(g => g.Key, g => g.OrderBy(f => f.Index).ToList());
        foreach (var file in stack.Files)
        {
            file.ReadFrames(framesOf[file], (f, values) =>
            {
                int k = sliceOf[(file, f)];
                int at = 0;
                for (int j = 0; j < rows; j++)
                {
                    long o = layout.IndexOf(0, j, k);
                    for (int i = 0; i < columns; i++, o += layout.StrideI)
                    {
                        data[o] = values[at++];
                    }
                }
            });
        }

        var affine = geometry.Matrix is null ? null : Orientation.CanonicalAffine(m, columns, rows, slices, axes.WorldAxis, axes.Sign);
        var syntaxes = stack.Files.Select(f => f.TransferSyntax.Name).Distinct().ToList();
        warnings.AddRange(geometry.Warnings);
        var info = stack.Info;
        return new Volume(data, layout.D, layout.H, layout.W, path, VolumeFileFormat.Dicom)
        {
            SpacingMm = affine is null ? null : Orientation.Spacing(affine),
            Affine = affine,
            SourceAxisCodes = affine is null ? null : Orientation.AxisCodes(axes.WorldAxis, axes.Sign),
            OrientationSource = affine is null ? null : geometry.Source,
            DisplayInverted = photometric == "MONOCHROME1",
            FormatDetails = $"DICOM series {info.SeriesInstanceUid} ({info.Modality ?? "?"}" +
                (info.SeriesNumber is { } n ? $" #{n}" : "") + (info.Description is { } d ? $" '{d}'" : "") +
                $"), {stack.Files.Count} file(s), {slices} slice(s) of {columns}×{rows}, {string.Join(" + ", syntaxes)}, " +
                $"{photometric}, BitsStored {first.Dataset.GetInt(DicomTags.BitsStored) ?? 0}" +
                (first.Dataset.GetInt(DicomTags.PixelRepresentation) == 1 ? " signed" : " unsigned") +
                RescaleText(stack.Frames),
            Warnings = warnings,
        };
    }

    private static string RescaleText(List<DicomFrame> frames)
    {
        var slopes = frames.Select(f => f.Slope).Distinct().ToList();
        var intercepts = frames.Select(f => f.Intercept).Distinct().ToList();
        if (slopes.Count == 1 && intercepts.Count == 1)
        {
            return slopes[0] == 1 && intercepts[0] == 0 ? ""
                : $", rescale {Num(slopes[0])} · stored + {Num(intercepts[0])}";
        }

        return ", rescale per slice";
    }

    /// <summary>The stack's slice order, 3×4 RAS voxel-to-world matrix (null when unknown) and geometry findings.</summary>
    private sealed record StackGeometry(List<DicomFrame> Order, double[,]? Matrix, string Source, List<string> Warnings);

    private static StackGeometry Geometry(string path, Stack stack)
    {
        var frames = stack.Frames;
        var warnings = new List<string>();
        var first = frames[0];
        bool enhanced = first.File.Dataset.Contains(DicomTags.PerFrameFunctionalGroupsSequence);
        string source = enhanced ? "per-frame functional groups" : "ImagePositionPatient / ImageOrientationPatient";
        if (frames.Any(f => f.Orientation is null || f.Position is null))
        {
            // No geometry: stack by InstanceNumber (then file and frame order), orientation unknown.
            var unknown = frames.OrderBy(f => f.InstanceNumber ?? int.MaxValue).ThenBy(f => f.File.FilePath, StringComparer.Ordinal)
                .ThenBy(f => f.Index).ToList();
            warnings.Add(frames.Count > 1 && frames.All(f => f.Orientation is not null) && frames[0].Position is not null
                ? "the multi-frame image gives no position per frame: frames stacked in file order, geometry unknown"
                : "no ImagePositionPatient / ImageOrientationPatient: slices stacked in InstanceNumber order, geometry unknown");
            return new StackGeometry(unknown, null, "none", warnings);
        }

        var o = first.Orientation!;
        var row = Normalised([o[0], o[1], o[2]]);
        var col = Normalised([o[3], o[4], o[5]]);
        if (row is null || col is null || Math.Abs(Dot(row, col)) > 1e-3)
        {
            throw new VolumeFormatException(path,
                $"ImageOrientationPatient ({string.Join(", ", o.Select(Num))}) is not two perpendicular unit vectors");
        }

        var normal = Cross(row, col);
        var order = frames.OrderBy(f => Dot(f.Position!, normal)).ThenBy(f => f.InstanceNumber ?? 0).ToList();
        var s = order.Select(f => Dot(f.Position!, normal)).ToArray();
        var spacing = first.PixelSpacing;
        if (spacing is null)
        {
            warnings.Add("no PixelSpacing: 1 mm assumed in the slice plane");
            spacing = [1, 1];
        }

        double[] step;
        int n = order.Count;
        if (n == 1)
        {
            double thickness = first.File.Dataset.GetNumbers(DicomTags.SpacingBetweenSlices)?[0] ?? first.SliceThickness ?? 1;
            thickness = thickness > 0 ? thickness : 1;
            step = [normal[0] * thickness, normal[1] * thickness, normal[2] * thickness];
        }
        else
        {
            CheckSpacing(path, s, warnings);
            var p0 = order[0].Position!;
            var p1 = order[n - 1].Position!;
            step = [(p1[0] - p0[0]) / (n - 1), (p1[1] - p0[1]) / (n - 1), (p1[2] - p0[2]) / (n - 1)];
            CheckTilt(order, step, normal, first.File.Dataset.GetNumbers(DicomTags.GantryDetectorTilt)?[0], warnings);
        }

        // LPS: world = P + i·Δc·row + j·Δr·col + k·step; RAS negates x and y.
        var p = order[0].Position!;
        double[][] columns = [[.. row.Select(x => x * spacing[1])], [.. col.Select(x => x * spacing[0])], step];
        var m = new double[3, 4];
        for (int r = 0; r < 3; r++)
        {
            double flip = r < 2 ? -1 : 1;
            for (int c = 0; c < 3; c++)
            {
                m[r, c] = flip * columns[c][r];
            }

            m[r, 3] = flip * p[r];
        }

        return new StackGeometry(order, m, source, warnings);
    }

    private static void CheckSpacing(string path, double[] s, List<string> warnings)
    {
        var gaps = new double[s.Length - 1];
        for (int i = 0; i < gaps.Length; i++)
        {
            gaps[i] = s[i + 1] - s[i];
        }

        var sorted = gaps.Order().ToArray();
        double median = sorted[sorted.Length / 2];
        double tolerance = Math.Max(0.01, 0.01 * median);
        int duplicates = gaps.Count(g => g < Math.Max(1e-3, 0.01 * median));
        if (duplicates > 0 || median <= 0)
        {
            throw new VolumeFormatException(path,
                $"{duplicates + 1} slices share a position along the slice normal: the series holds several volumes " +
                "(e.g. echoes or time points) or duplicate images; only one image per position is supported");
        }

        var missing = new List<string>();
        int missingCount = 0;
        var regular = new List<double>();
        for (int i = 0; i < gaps.Length; i++)
        {
            double k = gaps[i] / median;
            if (k > 1.5 && Math.Abs(k - Math.Round(k)) * median <= tolerance * Math.Round(k))
            {
                missingCount += (int)Math.Round(k) - 1;
                missing.Add($"{Num(gaps[i])} mm after slice {i}");
            }
            else
            {
                regular.Add(gaps[i]);
            }
        }

        if (missingCount > 0)
        {
            warnings.Add($"missing slices: about {missingCount} slice(s) missing (gap of {string.Join(", ", missing.Take(5))}" +
                $"{(missing.Count > 5 ? ", …" : "")}; spacing {Num(median)} mm elsewhere); the volume is stacked as it is, " +
                "so the gap is closed up");
        }

        if (regular.Count > 0 && regular.Max() - regular.Min() > tolerance)
        {
            warnings.Add($"non-uniform slice spacing: from {Num(regular.Min())} to {Num(regular.Max())} mm (median " +
                $"{Num(median)} mm); the volume is stacked as it is, not resampled to even spacing");
        }
    }

    private static void CheckTilt(List<DicomFrame> order, double[] step, double[] normal, double? gantryTilt,
        List<string> warnings)
    {
        double length = Math.Sqrt(Dot(step, step));
        double cos = Math.Abs(Dot(step, normal)) / length;
        double angle = Math.Acos(Math.Min(1, cos)) * 180 / Math.PI;
        if (angle > 0.01 || gantryTilt is { } t && Math.Abs(t) > 0.01)
        {
            warnings.Add($"gantry tilt: the slices are sheared by {Num(angle)}° along the stack" +
                (gantryTilt is { } g ? $" (GantryDetectorTilt {Num(g)}°)" : "") +
                "; the volume keeps the acquired slices (its affine holds the shear), it is not resampled");
        }

        // Positions off the line through the first and last slice (a curved or jumbled stack).
        var p0 = order[0].Position!;
        double worst = 0;
        for (int k = 1; k < order.Count - 1; k++)
        {
            var p = order[k].Position!;
            double[] expected = [p0[0] + k * step[0], p0[1] + k * step[1], p0[2] + k * step[2]];
            double[] d = [p[0] - expected[0], p[1] - expected[1], p[2] - expected[2]];
            double along = Dot(d, normal);
            double[] off = [d[0] - along * normal[0], d[1] - along * normal[1], d[2] - along * normal[2]];
            worst = Math.Max(worst, Math.Sqrt(Dot(off, off)));
        }

        if (worst > 0.05 * length + 0.01)
        {
            warnings.Add($"slice positions do not lie on one line: up to {Num(worst)} mm off the line through the " +
                "first and last slice");
        }
    }

    private static double[]? Normalised(double[] v)
    {
        double n = Math.Sqrt(Dot(v, v));
        return n > 0.5 && n < 1.5 ? [v[0] / n, v[1] / n, v[2] / n] : null;
    }

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

    private static double[] Cross(double[] a, double[] b) =>
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

    private static string Num(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);

    private static string? Printable(string? s) => s is null ? null : DicomDataset.Shorten(s);
}
