using Med2E3.Native.Cli;

namespace Med2E3.Native.Tests.Cli;

/// <summary>
/// Bad input files and devices: one line on stderr naming the file and the problem, the documented exit code, and no
/// stack trace unless --verbose.
/// </summary>
public class BadInputTests
{
    static string Checkpoint => Path.Combine(CliRunner.FixtureDir, "checkpoint");

    [Fact]
    public void MissingCheckpointFolder()
    {
        using var tmp = new CliRunner.TempDir();
        string dir = tmp.File("no-such-checkpoint");
        var r = CliRunner.Run("generate", "--checkpoint", dir, "--volume", tmp.File("v.npy"), "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        Assert.Equal([$"med2e3: {dir}: checkpoint folder not found"], r.ErrLines);
    }

    [Fact]
    public void MissingVolumeFile()
    {
        using var tmp = new CliRunner.TempDir();
        string volume = tmp.File("missing.nii.gz");
        var r = CliRunner.Run("generate", "--checkpoint", Checkpoint, "--volume", volume, "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {volume}: volume file not found"], r.ErrLines);
    }

    [Fact]
    public void VolumeIsAFolderWithoutDicomImages()
    {
        // A folder is read as a DICOM series; one holding no DICOM image says what it skipped.
        using var tmp = new CliRunner.TempDir();
        File.WriteAllText(tmp.File("notes.txt"), "not an image");
        var r = CliRunner.Run("generate", "--checkpoint", Checkpoint, "--volume", tmp.Path, "-q", "hi", "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal($"med2e3: {tmp.Path}: no DICOM image found (skipped: 1 non-DICOM file(s))", r.ErrLines[^1]);
    }

    /// <summary>A .npy file (format 1.0, little-endian float32) with the given shape text and raw voxel bytes.</summary>
    internal static byte[] Npy(string shape, float[] voxels, string descr = "<f4")
    {
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int pad = 64 - (10 + header.Length + 1) % 64;
        header = header + new string(' ', pad % 64) + "\n";
        var bytes = new List<byte>();
        bytes.AddRange([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(header));
        foreach (float v in voxels) bytes.AddRange(BitConverter.GetBytes(v));
        return [.. bytes];
    }

    static float[] Random(int n, int seed = 7)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() * 0.9f + 0.05f)];
    }

    static CliRunner.Result GenerateOn(string volume, params string[] extra) =>
        CliRunner.Run(["generate", "--checkpoint", Checkpoint, "--volume", volume, "-q", "hi", "--device", "cpu", .. extra]);

    public static TheoryData<string, string, byte[], string> BadVolumes() => new()
    {
        { "NaN voxels", "nan.npy", Npy("(1, 8, 32, 32)", [.. Random(8 * 32 * 32).Select((v, i) => i == 1000 ? float.NaN : v)]),
          "1 NaN and 0 infinite voxel(s), the first at (d, h, w) = (0, 31, 8); pass --nan-to-zero to replace them with 0" },
        { "two channels", "channels.npy", Npy("(2, 8, 32, 32)", Random(2 * 8 * 32 * 32)),
          "shape (2, 8, 32, 32) has 2 channels; only single-channel volumes (1, D, H, W) are supported" },
        { "2-D array", "flat.npy", Npy("(32, 32)", Random(32 * 32)), "shape (32, 32) is not (D, H, W) or (1, D, H, W)" },
        { "truncated data", "short.npy", Npy("(1, 8, 32, 32)", Random(100)),
          "truncated data: expected 32768 bytes of float32 voxels ('<f4') after the 128-byte header, the file ends after 400" },
        { "malformed npy header", "header.npy", [0x93, .. "NUMPY\u0001\u0000\u0010\u0000{'descr': '<f4',\n"u8], "malformed .npy header: expected a quoted string at character 16 of" },
        { "empty file", "empty.nii", [], "the file is empty" },
        { "not a volume", "text.nii.gz", System.Text.Encoding.ASCII.GetBytes("hello, this is not a volume at all"), "unknown volume format" },
        { "malformed NIfTI header", "bad.nii", MalformedNifti(), "bad NIfTI-1 magic 78 2B 31 00 (expected 'n+1')" },
    };

    /// <summary>A NIfTI-1 header (sizeof_hdr 348) with a broken magic.</summary>
    static byte[] MalformedNifti()
    {
        var bytes = new byte[352];
        BitConverter.GetBytes(348).CopyTo(bytes, 0);
        BitConverter.GetBytes((short)3).CopyTo(bytes, 40); // dim[0]
        "x+1\0"u8.ToArray().CopyTo(bytes, 344);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(BadVolumes))]
    public void BadVolumeFile(string what, string name, byte[] content, string problem)
    {
        using var tmp = new CliRunner.TempDir();
        string path = tmp.File(name);
        File.WriteAllBytes(path, content);
        var r = GenerateOn(path);
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"{what}: {r}");
        string line = Assert.Single(r.ErrLines, l => l.StartsWith("med2e3: "));
        Assert.StartsWith($"med2e3: {path}: ", line);
        Assert.Contains(problem, line);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void NanToZeroReplacesNonFiniteVoxelsWithAWarning()
    {
        using var tmp = new CliRunner.TempDir();
        string path = tmp.File("nan.npy");
        File.WriteAllBytes(path, Npy("(1, 8, 32, 32)", [.. Random(8 * 32 * 32).Select((v, i) => i % 97 == 0 ? float.NaN : v)]));
        var r = GenerateOn(path, "--nan-to-zero", "--max-new-tokens", "2", "--json");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        var warning = Assert.Single(doc.RootElement.GetProperty("warnings").EnumerateArray());
        Assert.Contains("NaN", warning.GetString());
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        using var tmp = new CliRunner.TempDir();
        string path = tmp.File("flat.npy");
        File.WriteAllBytes(path, Npy("(32, 32)", Random(32 * 32)));
        var r = GenerateOn(path, "--verbose");
        Assert.Equal(ExitCodes.BadInput, r.ExitCode);
        Assert.Contains("   at ", r.Err);
    }

    [Fact]
    public void BatchMissingDataFile()
    {
        using var tmp = new CliRunner.TempDir();
        string data = tmp.File("missing.json");
        var r = CliRunner.Run("batch", "--checkpoint", Checkpoint, "--data", data, "--volume-root", tmp.Path,
            "--out", tmp.File("out.json"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Equal([$"med2e3: {data}: data file not found"], r.ErrLines);
    }

    [Fact]
    public void CudaRequestedWithoutAGpu()
    {
        if (DeviceChoice.Resolve("auto") == "cuda") Assert.Skip("a CUDA device is present on this machine");
        var r = CliRunner.Run("generate", "--demo", "--device", "cuda");
        Assert.True(r.ExitCode == ExitCodes.DeviceUnavailable, r.ToString());
        Assert.Single(r.ErrLines);
        Assert.StartsWith("med2e3: --device cuda: ", r.ErrLines[0]);
    }

    [Fact]
    public void InfoSummarisesTheFixtureCheckpoint()
    {
        var r = CliRunner.Run("info", "--checkpoint", Checkpoint);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("CUDA", r.Out);
        Assert.Contains("NVRTC", r.Out);
        Assert.Contains("OK: every tensor matches the configs", r.Out);
    }

    [Fact]
    public void CheckpointThatDoesNotMatchItsConfig()
    {
        using var tmp = new CliRunner.TempDir();
        string copy = Path.Combine(tmp.Path, "checkpoint");
        CopyDirectory(CliRunner.FixtureDir, tmp.Path);
        string config = Path.Combine(copy, "llm", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"));

        var r = CliRunner.Run("info", "--checkpoint", copy);
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        string weights = Path.Combine(copy, "llm", "pytorch_model.bin");
        Assert.Equal([$"med2e3: {weights}: tensor 'model.layers.0.mlp.gate_up_proj.weight' has shape [192,64], "
            + "the config expects [256,64] (and 3 more, listed above)"], r.ErrLines);
        Assert.DoesNotContain("   at ", r.Err);
    }

    /// <summary>A copy of the fixture (checkpoint/ and text_tokenizer/) with one thing broken by <paramref name="breakIt"/>.</summary>
    static CliRunner.Result GenerateOnBrokenCheckpoint(CliRunner.TempDir tmp, Action<string> breakIt)
    {
        CopyDirectory(CliRunner.FixtureDir, tmp.Path);
        string checkpoint = Path.Combine(tmp.Path, "checkpoint");
        breakIt(checkpoint);
        string volume = Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", "phantom-1x8x32x32.npy");
        return CliRunner.Run("generate", "--checkpoint", checkpoint, "--volume", volume, "-q", "hi", "--device", "cpu");
    }

    [Fact]
    public void GenerateOnACheckpointThatDoesNotMatchItsConfig()
    {
        using var tmp = new CliRunner.TempDir();
        var r = GenerateOnBrokenCheckpoint(tmp, ckpt =>
        {
            string config = Path.Combine(ckpt, "llm", "config.json");
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"));
        });
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        string weights = Path.Combine(tmp.Path, "checkpoint", "llm", "pytorch_model.bin");
        Assert.Contains($"med2e3: {weights}: tensor 'model.layers.0.mlp.gate_up_proj.weight' has shape [192,64], "
            + "the config expects [256,64] (and 3 more problem(s))", r.ErrLines);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void GenerateOnACheckpointWithoutLlmWeights()
    {
        using var tmp = new CliRunner.TempDir();
        var r = GenerateOnBrokenCheckpoint(tmp, ckpt => File.Delete(Path.Combine(ckpt, "llm", "pytorch_model.bin")));
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        Assert.Contains($"med2e3: {Path.Combine(tmp.Path, "checkpoint", "llm")}: no weights (looked for model.safetensors.index.json, "
            + "model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin)", r.ErrLines);
    }

    [Fact]
    public void GenerateOnATruncatedWeightFile()
    {
        using var tmp = new CliRunner.TempDir();
        string file = Path.Combine(tmp.Path, "checkpoint", "vision2d_model", "pytorch_model.bin");
        var r = GenerateOnBrokenCheckpoint(tmp, _ => File.WriteAllBytes(file, File.ReadAllBytes(file)[..1000]));
        Assert.True(r.ExitCode == ExitCodes.Checkpoint, r.ToString());
        Assert.Contains($"med2e3: {file}: no zip end-of-central-directory record (not a PyTorch zip checkpoint, or truncated)", r.ErrLines);
    }

    internal static void CopyDirectory(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
