using System.Diagnostics;
using System.Globalization;
using Med2E3.Native.Formats.Files;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;

namespace Med2E3.Native.Cli.Commands;

/// <summary>
/// <c>med2e3 info --checkpoint DIR</c>: opens a Med-2E3 checkpoint, checks every tensor header, dtype and shape
/// against the configs and prints a summary (configs, parameters per component, dtypes, memory).
/// Returns 0 when everything checks out; otherwise throws: the checkpoint's own exception when it cannot be opened,
/// a <see cref="CliException"/> (exit code 4) with the first problem when the report lists problems.
/// </summary>
public static class CheckpointInfo
{
    public static int Run(string dir, TextWriter output) => Run(dir, output, new CheckpointOptions());

    /// <param name="dir">Checkpoint root.</param>
    /// <param name="output">Summary goes here.</param>
    /// <param name="options">Vocab path, text_mlp mimicry, BERT heads (Strict is ignored).</param>
    /// <param name="readData">Also read every tensor's bytes and check that floats are finite.</param>
    public static int Run(string dir, TextWriter output, CheckpointOptions options, bool readData = false)
    {
        var clock = Stopwatch.StartNew();
        Med2E3Checkpoint ckpt = Med2E3Checkpoint.Open(dir, options with { Strict = false });
        double openMs = clock.Elapsed.TotalMilliseconds;
        Print(ckpt, output);
        output.WriteLine($"opened and checked in {openMs:F1} ms (headers only)");

        var problems = new List<string>(ckpt.Report.Problems);
        if (readData)
        {
            clock.Restart();
            long bytes = 0;
            try
            {
                foreach (CheckpointComponent c in ckpt.Components)
                {
                    foreach (WeightTensor t in c.Weights.Tensors)
                    {
                        bytes += t.ByteLength;
                        if (t.DType.IsFloatingPoint())
                        {
                            float[] values = t.ToFloat32();
                            int bad = Array.FindIndex(values, v => !float.IsFinite(v));
                            if (bad >= 0)
                            {
                                problems.Add($"{t.SourceFile}: tensor {InputText.Quote(t.Name)} element {bad} is {values[bad]}");
                            }
                        }
                        else
                        {
                            _ = t.Data;
                        }
                        t.ReleaseCache();
                    }
                }
            }
            catch (CheckpointFormatException e)
            {
                problems.Add(e.Message);
            }
            double s = clock.Elapsed.TotalSeconds;
            output.WriteLine($"read all tensor data: {Bytes(bytes)} in {s:F2} s ({bytes / Math.Max(s, 1e-9) / 1e6:F0} MB/s)");
        }

        if (problems.Count == 0)
        {
            output.WriteLine("OK: every tensor matches the configs");
            return ExitCodes.Ok;
        }
        output.WriteLine($"{problems.Count} problem(s):");
        foreach (string p in problems)
        {
            output.WriteLine("  " + p);
        }
        string more = problems.Count > 1 ? $" (and {problems.Count - 1} more, listed above)" : "";
        throw CliException.Checkpoint(problems[0] + more);
    }

    /// <summary>Writes the summary of an opened checkpoint.</summary>
    public static void Print(Med2E3Checkpoint ckpt, TextWriter o)
    {
        var a = ckpt.Args;
        var l = ckpt.LlmConfig;
        var v2 = ckpt.Vision2DConfig;
        var v3 = ckpt.Vision3DConfig;
        var b = ckpt.BertConfig;
        o.WriteLine($"checkpoint  {ckpt.Root}");
        o.WriteLine($"args        {Rel(ckpt, a.SourcePath)}: exp_id {a.ExpId?.ToString(CultureInfo.InvariantCulture) ?? "-"}, " +
                    $"llm {T(a.LlmType)}, llm_max_length {a.LlmMaxLength}, padding {T(a.LlmPaddingSide)}, " +
                    $"template {T(a.ConvVersion ?? "-")}");
        o.WriteLine($"            2D {T(a.Vision2DModelType)} layer {a.Vision2DSelectLayer} {T(a.Vision2DSelectFeature)} " +
                    $"→ {T(a.Vision2DConnectorType)}; 3D {T(a.Vision3DModelType)} layer {a.Vision3DSelectLayer} " +
                    $"{T(a.Vision3DSelectFeature)} → {T(a.Vision3DConnectorType)}");
        string rope = l.RopeScaling is { } s
            ? $"{T(s.Type)} (short/long {s.ShortFactor.Length}/{s.LongFactor.Length} factors, original " +
              $"{l.OriginalMaxPositionEmbeddings} → {l.MaxPositionEmbeddings}, attention factor " +
              $"{l.RopeAttentionFactor.ToString("F10", CultureInfo.InvariantCulture)})"
            : "plain";
        o.WriteLine($"llm         Phi-3: hidden {l.HiddenSize}, layers {l.NumHiddenLayers}, heads " +
                    $"{l.NumAttentionHeads}/{l.NumKeyValueHeads} kv (head_dim {l.HeadDim}), intermediate " +
                    $"{l.IntermediateSize}, vocab {l.VocabSize}, rms eps {G(l.RmsNormEps)}, theta {G(l.RopeTheta)}");
        o.WriteLine($"            rope {rope}; bos {l.BosTokenId?.ToString(CultureInfo.InvariantCulture) ?? "-"}, " +
                    $"eos {string.Join("/", l.EosTokenIds)}, pad {l.PadTokenId?.ToString(CultureInfo.InvariantCulture) ?? "-"}, " +
                    $"tied embeddings {l.TieWordEmbeddings.ToString().ToLowerInvariant()}");
        o.WriteLine($"vision2d    SigLIP: hidden {v2.HiddenSize}, layers {v2.NumHiddenLayers}, heads {v2.NumAttentionHeads}, " +
                    $"intermediate {v2.IntermediateSize}, image {v2.ImageSize}, patch {v2.PatchSize} " +
                    $"({v2.NumPatches} tokens), {T(v2.HiddenAct)}, eps {G(v2.LayerNormEps)}");
        o.WriteLine($"vision3d    M3D-CLIP ViT: volume {string.Join("x", v3.ImgSize)}, patch {string.Join("x", v3.PatchSize)} " +
                    $"(grid {string.Join("x", v3.Grid)} = {v3.NumPatches} tokens), hidden {v3.HiddenSize}, mlp {v3.MlpDim}, " +
                    $"layers {v3.NumLayers}, heads {v3.NumHeads}");
        o.WriteLine($"bert        vocab {b.VocabSize}, hidden {b.HiddenSize}, layers {b.NumHiddenLayers}, heads " +
                    $"{b.NumAttentionHeads}{(b.HeadsAssumed ? " (assumed)" : "")}, intermediate {b.IntermediateSize}, " +
                    $"positions {b.MaxPositionEmbeddings}, types {b.TypeVocabSize} (derived from the weights)");
        o.WriteLine($"tokenizer   {string.Join(", ", ckpt.Tokenizer.Present.Select(p => Rel(ckpt, p)))}");
        o.WriteLine($"bert vocab  {(ckpt.BertVocabPath is null ? "not found" : Rel(ckpt, ckpt.BertVocabPath))}");
        o.WriteLine();

        string header = $"{"component",-19} {"file",-38} {"format",-11} {"tensors",7} {"params",13} {"used",13} " +
                        $"{"dtype",-9} {"stored",10} {"bf16",10} {"fp32",10}";
        o.WriteLine(header);
        o.WriteLine(new string('-', header.Length));
        long tp = 0, tu = 0, ts = 0;
        int tt = 0;
        foreach (ComponentReport c in ckpt.Report.Components)
        {
            long p = c.ParameterCount;
            string dtypes = string.Join("+", c.ParametersByDType.OrderByDescending(kv => kv.Value).Select(kv => kv.Key.ShortName()));
            string file = string.Join(",", c.Files.Select(f => Rel(ckpt, f))) + (c.KeyPrefix.Length > 0 ? $" ({T(c.KeyPrefix)}*)" : "");
            o.WriteLine($"{c.Name,-19} {file,-38} {FormatName(c.Format),-11} {c.Tensors.Count,7} {N(p),13} " +
                        $"{N(c.UsedParameterCount),13} {dtypes,-9} {Bytes(c.StoredBytes),10} {Bytes(2 * p),10} {Bytes(4 * p),10}");
            tp += p;
            tu += c.UsedParameterCount;
            ts += c.StoredBytes;
            tt += c.Tensors.Count;
        }
        o.WriteLine(new string('-', header.Length));
        o.WriteLine($"{"total",-19} {"",-38} {"",-11} {tt,7} {N(tp),13} {N(tu),13} {"",-9} {Bytes(ts),10} " +
                    $"{Bytes(2 * tp),10} {Bytes(4 * tp),10}");
        o.WriteLine($"memory for the weights the network uses: {Bytes(2 * tu)} at bf16, {Bytes(4 * tu)} at fp32");
        o.WriteLine();
        int unused = ckpt.Report.Components.Sum(c => c.KnownUnused.Count);
        o.WriteLine($"checks      {ckpt.Report.Components.Sum(c => c.Missing.Count)} missing, " +
                    $"{ckpt.Report.Components.Sum(c => c.Unexpected.Count)} unexpected, " +
                    $"{ckpt.Report.Components.Sum(c => c.ShapeMismatches.Count)} shape mismatches, " +
                    $"{ckpt.Report.ConfigProblems.Count} config problems; {unused} known-unused tensors " +
                    $"({string.Join(", ", ckpt.Report.Components.Where(c => c.KnownUnused.Count > 0).Select(c => $"{c.Name} {c.KnownUnused.Count}"))})");
        foreach (string n in ckpt.Report.Notes)
        {
            o.WriteLine("note        " + n);
        }
    }

    private static string FormatName(WeightFormat f) => f switch
    {
        WeightFormat.TorchZip => "torch-zip",
        WeightFormat.Safetensors => "safetensors",
        WeightFormat.ShardedSafetensors => "st-sharded",
        WeightFormat.ShardedTorchZip => "bin-sharded",
        _ => f.ToString(),
    };

    private static string Rel(Med2E3Checkpoint c, string path) => Path.GetRelativePath(c.Root, path);

    /// <summary>A text value from a config or a weight file, on one line and at most 200 characters.</summary>
    private static string T(string value) => InputText.Bounded(value);

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string G(double d) => d.ToString("G", CultureInfo.InvariantCulture);

    internal static string Bytes(long b) => b switch
    {
        >= 1L << 30 => (b / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (double)(1L << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (double)(1L << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
