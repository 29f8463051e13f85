using SkiaSharp;
using Med2E3.Native.Formats.Files;

namespace Med2E3.Native.Models.Imaging;

/// <summary>
/// Draws the <c>--explain</c> picture: the preprocessed volume as a slice montage, each slice labelled with its index
/// and its TG-IS score (spec §5.2: the softmax over slices that weights the 2D tokens), a bar chart of the scores with
/// the top slices highlighted, and the question and answer as a wrapped caption. One PNG or JPEG (chosen by the file's
/// extension), rendered with SkiaSharp using the DejaVu Sans font embedded in this assembly (no system fonts or
/// fontconfig needed).
/// </summary>
public static class ExplainPicture
{
    /// <summary>Width of every picture, in pixels; the height follows from the slice count and the caption.</summary>
    public const int CanvasWidth = 1280;

    private const float Margin = 32f;
    private const float Gap = 10f;
    private const float LabelStrip = 26f;
    private const float ChartHeight = 230f;
    private const int MaxColumns = 8;
    private const float TitleSize = 26f;
    private const float CaptionSize = 19f;
    private const float LabelSize = 15f;
    private const float SmallSize = 13f;

    private static readonly SKColor Background = new(0x14, 0x16, 0x1B);
    private static readonly SKColor Panel = new(0x1E, 0x21, 0x28);
    private static readonly SKColor Text = new(0xE8, 0xEA, 0xEE);
    private static readonly SKColor Muted = new(0x9A, 0xA1, 0xAE);
    private static readonly SKColor Accent = new(0xFF, 0xB0, 0x20);
    private static readonly SKColor AccentDark = new(0x8A, 0x55, 0x00);
    private static readonly SKColor Slate = new(0x5E, 0x7A, 0xA8);
    private static readonly SKColor Grid = new(0x33, 0x38, 0x42);

    private static readonly Lazy<SKTypeface> Face = new(LoadTypeface);

    /// <summary>
    /// Renders a volume of square slices: <paramref name="volume"/> is (D, H, W) with D = <paramref name="sliceScores"/>
    /// length and H = W = √(volume.Length / D) (the model's 32 × 256 × 256, or the tiny 8 × 32 × 32).
    /// </summary>
    public static void Render(float[] volume, float[] sliceScores, string question, string answer, string outputPngPath)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(sliceScores);
        int d = sliceScores.Length;
        int side = d > 0 ? (int)Math.Round(Math.Sqrt(volume.Length / (double)d)) : 0;
        if (d == 0 || (long)d * side * side != volume.Length)
        {
            throw new ArgumentException(
                $"volume has {volume.Length} values, which is not {d} square slices; use the overload with (D, H, W)",
                nameof(volume));
        }

        Render(volume, d, side, side, sliceScores, question, answer, outputPngPath);
    }

    /// <summary>
    /// Renders a (<paramref name="depth"/>, <paramref name="height"/>, <paramref name="width"/>) volume and writes the
    /// picture in the format its extension names: PNG for .png, JPEG for .jpg and .jpeg.
    /// </summary>
    /// <exception cref="ArgumentException">any other extension (the bytes would not be what the name says).</exception>
    public static void Render(
        float[] volume, int depth, int height, int width, float[] sliceScores, string question, string answer,
        string outputPath)
    {
        var format = FormatOf(outputPath) ?? throw new ArgumentException(
            $"{outputPath}: the picture is written as PNG (.png) or JPEG (.jpg, .jpeg), not as '{Path.GetExtension(outputPath)}'",
            nameof(outputPath));
        var bytes = RenderImage(volume, depth, height, width, sliceScores, question, answer, format);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        // Written through a temporary sibling: a full disk leaves no truncated picture behind.
        AtomicFile.WriteAllBytes(outputPath, bytes);
    }

    /// <summary>The image format for a file name: PNG for .png, JPEG for .jpg / .jpeg (any case), else null.</summary>
    public static SKEncodedImageFormat? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => SKEncodedImageFormat.Png,
        ".jpg" or ".jpeg" => SKEncodedImageFormat.Jpeg,
        _ => null,
    };

    /// <summary>Renders the picture and returns the PNG bytes.</summary>
    public static byte[] RenderPng(
        float[] volume, int depth, int height, int width, float[] sliceScores, string question, string answer) =>
        RenderImage(volume, depth, height, width, sliceScores, question, answer, SKEncodedImageFormat.Png);

    /// <summary>Renders the picture and returns its bytes as PNG or JPEG (quality 92).</summary>
    public static byte[] RenderImage(
        float[] volume, int depth, int height, int width, float[] sliceScores, string question, string answer,
        SKEncodedImageFormat format)
    {
        Validate(volume, depth, height, width, sliceScores);
        question ??= "";
        answer ??= "";
        var layout = new Layout(depth, height, width, question, answer);
        using var surface = SKSurface.Create(new SKImageInfo(CanvasWidth, layout.Height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"cannot create a {CanvasWidth}×{layout.Height} drawing surface");
        var canvas = surface.Canvas;
        canvas.Clear(Background);
        DrawCaption(canvas, layout);
        DrawMontage(canvas, layout, volume, sliceScores);
        DrawChart(canvas, layout, sliceScores);
        DrawFooter(canvas, layout, sliceScores);
        using var pixmap = surface.PeekPixels();
        using var data = (format switch
        {
            SKEncodedImageFormat.Png => pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub | SKPngEncoderFilterFlags.Up, zLibLevel: 6)),
            SKEncodedImageFormat.Jpeg => pixmap.Encode(new SKJpegEncoderOptions(92, SKJpegEncoderDownsample.Downsample420,
                SKJpegEncoderAlphaOption.Ignore)),
            _ => throw new ArgumentException($"{format} is not PNG or JPEG", nameof(format)),
        }) ?? throw new InvalidOperationException($"{format} encoding failed");
        return data.ToArray();
    }

    /// <summary>The pixel size (width, height) of the picture for these inputs.</summary>
    public static (int Width, int Height) Size(int depth, int height, int width, string question, string answer) =>
        (CanvasWidth, new Layout(depth, height, width, question ?? "", answer ?? "").Height);

    /// <summary>
    /// The slices that stand out, highest first: at most <paramref name="k"/> of the highest scores, each more than 1%
    /// above the uniform score 1/D (the scores are a softmax over the D slices), and none tied (within 0.1%) with a
    /// slice left out. Equal or nearly uniform scores (random weights) therefore mark no slice, and a tie at the k-th
    /// place marks only the slices above it.
    /// </summary>
    public static int[] TopSlices(float[] sliceScores, int k)
    {
        var order = Enumerable.Range(0, sliceScores.Length).OrderByDescending(i => sliceScores[i]).ThenBy(i => i).ToArray();
        double uniform = 1.0 / sliceScores.Length;
        int m = 0;
        while (m < Math.Min(k, order.Length) && sliceScores[order[m]] > uniform * StandOut)
        {
            m++;
        }

        while (m > 0 && m < order.Length && Tied(sliceScores[order[m - 1]], sliceScores[order[m]]))
        {
            m--;
        }

        return order[..m];
    }

    // A slice stands out when its score exceeds the uniform 1/D by more than 1%; two scores within 0.1% of each other
    // are the same score (they also print the same at the picture's three decimals).
    private const double StandOut = 1.01;
    private const double TieTolerance = 1e-3;

    private static bool Tied(float a, float b) => Math.Abs(a - b) <= TieTolerance * Math.Max(Math.Abs(a), Math.Abs(b));

    private static int TopCount(int depth) => Math.Min(3, depth);

    private static void Validate(float[] volume, int depth, int height, int width, float[] scores)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(scores);
        if (depth < 1 || height < 1 || width < 1 || (long)depth * height * width != volume.Length)
        {
            throw new ArgumentException($"volume has {volume.Length} values, which is not {depth}×{height}×{width}", nameof(volume));
        }

        if (scores.Length != depth)
        {
            throw new ArgumentException($"{scores.Length} slice scores for {depth} slices", nameof(scores));
        }

        if (scores.Any(s => !float.IsFinite(s)))
        {
            throw new ArgumentException("slice scores must be finite", nameof(scores));
        }
    }

    /// <summary>Positions of every block, computed once from the inputs (also used by <see cref="Size"/>).</summary>
    private sealed class Layout
    {
        public Layout(int depth, int height, int width, string question, string answer)
        {
            Depth = depth;
            VolumeHeight = height;
            VolumeWidth = width;
            float content = CanvasWidth - 2 * Margin;
            using var caption = MakeFont(CaptionSize);
            using var label = MakeFont(CaptionSize, bold: true);
            LabelWidth = Math.Max(label.MeasureText("Question"), label.MeasureText("Answer")) + 14f;
            QuestionLines = Wrap(question, caption, content - LabelWidth);
            AnswerLines = Wrap(answer, caption, content - LabelWidth);
            float line = CaptionSize * 1.4f;
            TitleBaseline = Margin + TitleSize;
            CaptionTop = TitleBaseline + 18f;
            float y = CaptionTop + line * (QuestionLines.Count + AnswerLines.Count) + 8f + 22f;

            Columns = Math.Min(MaxColumns, depth);
            Rows = (depth + Columns - 1) / Columns;
            TileWidth = MathF.Floor((content - (Columns - 1) * Gap) / Columns);
            TileHeight = MathF.Round(TileWidth * height / width);
            float rowWidth = Columns * TileWidth + (Columns - 1) * Gap;
            MontageLeft = Margin + (content - rowWidth) / 2f;
            MontageTop = y;
            y += Rows * (TileHeight + LabelStrip) + (Rows - 1) * Gap + 30f;

            ChartTop = y;
            y += ChartHeight + 16f;
            FooterBaseline = y + SmallSize;
            Height = (int)MathF.Ceiling(FooterBaseline + Margin - 8f);
        }

        public int Depth { get; }
        public int VolumeHeight { get; }
        public int VolumeWidth { get; }
        public float LabelWidth { get; }
        public List<string> QuestionLines { get; }
        public List<string> AnswerLines { get; }
        public float TitleBaseline { get; }
        public float CaptionTop { get; }
        public int Columns { get; }
        public int Rows { get; }
        public float TileWidth { get; }
        public float TileHeight { get; }
        public float MontageLeft { get; }
        public float MontageTop { get; }
        public float ChartTop { get; }
        public float FooterBaseline { get; }
        public int Height { get; }

        public SKRect Tile(int s)
        {
            int r = s / Columns;
            int c = s % Columns;
            float x = MontageLeft + c * (TileWidth + Gap);
            float y = MontageTop + r * (TileHeight + LabelStrip + Gap);
            return new SKRect(x, y, x + TileWidth, y + TileHeight);
        }
    }

    private static void DrawCaption(SKCanvas canvas, Layout layout)
    {
        using var title = MakeFont(TitleSize, bold: true);
        using var caption = MakeFont(CaptionSize);
        using var text = Fill(Text);
        using var accent = Fill(Accent);
        using var muted = Fill(Muted);
        canvas.DrawText("Slice relevance to the question", Margin, layout.TitleBaseline, SKTextAlign.Left, title, text);
        using var small = MakeFont(LabelSize);
        canvas.DrawText("Med-2E3 · text-guided inter-slice (TG-IS) scores", CanvasWidth - Margin, layout.TitleBaseline, SKTextAlign.Right, small, muted);

        using var labelFont = MakeFont(CaptionSize, bold: true);
        float line = CaptionSize * 1.4f;
        float y = layout.CaptionTop + CaptionSize;
        foreach (var (lines, label) in new[] { (layout.QuestionLines, "Question"), (layout.AnswerLines, "Answer") })
        {
            canvas.DrawText(label, Margin, y, SKTextAlign.Left, labelFont, accent);
            foreach (string l in lines)
            {
                canvas.DrawText(l, Margin + layout.LabelWidth, y, SKTextAlign.Left, caption, text);
                y += line;
            }
        }
    }

    private static void DrawMontage(SKCanvas canvas, Layout layout, float[] volume, float[] scores)
    {
        int d = layout.Depth;
        int hw = volume.Length / d;
        float lo = volume.Min();
        float hi = volume.Max();
        float range = hi > lo ? hi - lo : 1f;
        var top = TopSlices(scores, TopCount(d));
        float max = Math.Max(scores.Max(), 1e-12f);
        using var label = MakeFont(LabelSize);
        using var badge = MakeFont(LabelSize, bold: true);
        using var text = Fill(Text);
        using var muted = Fill(Muted);
        using var dark = Fill(Background);
        using var accentFill = Fill(Accent);
        using var panel = Fill(Panel);

        int h = layout.VolumeHeight;
        int w = layout.VolumeWidth;
        var pixels = new byte[hw];
        for (int s = 0; s < d; s++)
        {
            for (int i = 0; i < hw; i++)
            {
                float v = (volume[s * hw + i] - lo) / range;
                pixels[i] = (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
            }

            var rect = layout.Tile(s);
            using (var image = SKImage.FromPixelCopy(new SKImageInfo(w, h, SKColorType.Gray8, SKAlphaType.Opaque), pixels))
            {
                // Upscaled small slices keep their voxels visible; downscaled ones are filtered to avoid aliasing.
                var sampling = rect.Width >= 2 * w
                    ? new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None)
                    : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
                canvas.DrawImage(image, rect, sampling);
            }

            int rank = Array.IndexOf(top, s);
            var strip = new SKRect(rect.Left, rect.Bottom, rect.Right, rect.Bottom + LabelStrip);
            canvas.DrawRect(strip, rank >= 0 ? accentFill : panel);

            // A bar along the strip's top edge shows the score relative to the highest.
            using (var level = Fill(rank >= 0 ? AccentDark : Slate))
            {
                canvas.DrawRect(new SKRect(rect.Left, rect.Bottom, rect.Left + rect.Width * scores[s] / max, rect.Bottom + 4f), level);
            }

            float baseline = strip.Bottom - 7f;
            canvas.DrawText($"#{s}", strip.Left + 7f, baseline, SKTextAlign.Left, label, rank >= 0 ? dark : muted);
            canvas.DrawText(scores[s].ToString("0.000"), strip.Right - 7f, baseline, SKTextAlign.Right, label, rank >= 0 ? dark : text);

            if (rank >= 0)
            {
                using var border = Stroke(Accent, 3f);
                canvas.DrawRect(new SKRect(rect.Left + 1.5f, rect.Top + 1.5f, rect.Right - 1.5f, rect.Bottom + LabelStrip - 1.5f), border);
                float cx = rect.Left + 17f;
                float cy = rect.Top + 17f;
                canvas.DrawCircle(cx, cy, 12f, accentFill);
                canvas.DrawText((rank + 1).ToString(), cx, cy + LabelSize * 0.36f, SKTextAlign.Center, badge, dark);
            }
        }
    }

    private static void DrawChart(SKCanvas canvas, Layout layout, float[] scores)
    {
        int d = scores.Length;
        using var small = MakeFont(SmallSize);
        using var label = MakeFont(LabelSize);
        using var text = Fill(Text);
        using var muted = Fill(Muted);
        using var accent = Fill(Accent);
        using var grid = Stroke(Grid, 1f);
        using var panel = Fill(Panel);

        var frame = new SKRect(Margin, layout.ChartTop, CanvasWidth - Margin, layout.ChartTop + ChartHeight);
        canvas.DrawRoundRect(frame, 8f, 8f, panel);
        canvas.DrawText("Score per slice (softmax over slices, sums to 1)", frame.Left + 14f, frame.Top + 24f,
            SKTextAlign.Left, label, text);

        var plot = new SKRect(frame.Left + 64f, frame.Top + 44f, frame.Right - 18f, frame.Bottom - 34f);
        float max = scores.Max();
        float peak = Math.Max(Math.Max(max, 1f / d) * 1.15f, 1e-6f);
        float step = NiceStep(peak / 4f);
        int ticks = (int)MathF.Ceiling(peak / step);
        float top = ticks * step;
        string format = step >= 0.1f ? "0.0" : step >= 0.01f ? "0.00" : "0.000";
        float Y(float v) => plot.Bottom - plot.Height * v / top;

        for (int t = 0; t <= ticks; t++)
        {
            float v = step * t;
            float y = Y(v);
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            canvas.DrawText(v.ToString(format), plot.Left - 8f, y + SmallSize * 0.35f, SKTextAlign.Right, small, muted);
        }

        float uniform = 1f / d;
        using (var dash = Stroke(Muted, 1.5f))
        {
            dash.PathEffect = SKPathEffect.CreateDash([6f, 5f], 0f);
            canvas.DrawLine(plot.Left, Y(uniform), plot.Right, Y(uniform), dash);
        }

        canvas.DrawText($"uniform 1/{d}", plot.Right - 4f, Y(uniform) - 6f, SKTextAlign.Right, small, muted);

        var topSet = TopSlices(scores, TopCount(d));
        float slot = plot.Width / d;
        float bar = Math.Max(2f, slot * 0.72f);
        int labelEvery = slot >= 24f ? 1 : slot >= 12f ? 2 : 4;
        for (int s = 0; s < d; s++)
        {
            float cx = plot.Left + slot * (s + 0.5f);
            var r = new SKRect(cx - bar / 2f, Y(scores[s]), cx + bar / 2f, plot.Bottom);
            bool highlighted = topSet.Contains(s);
            using (var fill = Fill(highlighted ? Accent : Slate))
            {
                canvas.DrawRect(r, fill);
            }

            if (highlighted)
            {
                canvas.DrawText(scores[s].ToString("0.000"), cx, r.Top - 7f, SKTextAlign.Center, small, accent);
            }

            if (s % labelEvery == 0 || highlighted)
            {
                canvas.DrawText(s.ToString(), cx, plot.Bottom + 18f, SKTextAlign.Center, small, highlighted ? accent : muted);
            }
        }

        canvas.DrawText("slice", plot.Left - 8f, plot.Bottom + 18f, SKTextAlign.Right, small, muted);
    }

    private static void DrawFooter(SKCanvas canvas, Layout layout, float[] scores)
    {
        using var small = MakeFont(SmallSize);
        using var muted = Fill(Muted);
        var top = TopSlices(scores, TopCount(scores.Length));
        string tops = top.Length == 0 ? "none (every score is within 1% of uniform)"
            : string.Join(", ", top.Select(s => $"#{s} ({scores[s]:0.000})"));
        canvas.DrawText(
            $"Top slices: {tops}  ·  sum of scores {scores.Sum():0.000}  ·  slice 0 is the most superior; " +
            "each slice is shown as on a viewer (anterior up, patient's right on the left)",
            Margin, layout.FooterBaseline, SKTextAlign.Left, small, muted);
    }

    /// <summary>The smallest of 1, 2, 2.5, 5 × 10^n that is at least <paramref name="raw"/>.</summary>
    private static float NiceStep(float raw)
    {
        float p = MathF.Pow(10f, MathF.Floor(MathF.Log10(raw)));
        foreach (float m in new[] { 1f, 2f, 2.5f, 5f })
        {
            if (m * p >= raw * 0.999f)
            {
                return m * p;
            }
        }

        return 10f * p;
    }

    /// <summary>Greedy word wrap to <paramref name="maxWidth"/> pixels; words longer than a line are split.</summary>
    private static List<string> Wrap(string text, SKFont font, float maxWidth)
    {
        var lines = new List<string>();
        foreach (string paragraph in text.ReplaceLineEndings("\n").Split('\n'))
        {
            string line = "";
            foreach (string word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string candidate = line.Length == 0 ? word : line + " " + word;
                if (font.MeasureText(candidate) <= maxWidth)
                {
                    line = candidate;
                    continue;
                }

                if (line.Length > 0)
                {
                    lines.Add(line);
                }

                line = word;
                while (font.MeasureText(line) > maxWidth && line.Length > 1)
                {
                    int n = line.Length - 1;
                    while (n > 1 && font.MeasureText(line[..n]) > maxWidth)
                    {
                        n--;
                    }

                    lines.Add(line[..n]);
                    line = line[n..];
                }
            }

            lines.Add(line);
        }

        return lines;
    }

    private static SKFont MakeFont(float size, bool bold = false) => new(Face.Value, size)
    {
        Embolden = bold,
        Subpixel = true,
        Edging = SKFontEdging.Antialias,
    };

    private static SKPaint Fill(SKColor color) => new() { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill };

    private static SKPaint Stroke(SKColor color, float width) =>
        new() { Color = color, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = width };

    /// <summary>
    /// DejaVu Sans from this assembly's resources; if that were missing, the Debian system copy; as a last resort
    /// Skia's default face (which, without fontconfig, may draw no text).
    /// </summary>
    private static SKTypeface LoadTypeface()
    {
        using (var stream = typeof(ExplainPicture).Assembly.GetManifestResourceStream("Med2E3.Native.Models.Imaging.Fonts.DejaVuSans.ttf"))
        {
            if (stream is not null)
            {
                var ms = new MemoryStream();
                stream.CopyTo(ms);
                using var data = SKData.CreateCopy(ms.ToArray());
                if (SKTypeface.FromData(data) is { } embedded)
                {
                    return embedded;
                }
            }
        }

        const string system = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        return (File.Exists(system) ? SKTypeface.FromFile(system) : null) ?? SKTypeface.Default;
    }
}
