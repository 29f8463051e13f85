using System.Diagnostics;
using Med2E3.Native.Cli;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tests.Cli;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// Config values from strangers (issue 10): each is refused when the checkpoint is opened, with one message naming
/// the file, the field, the value as written and what is allowed, quickly and without allocating from the number;
/// <c>info</c> and <c>generate</c> report it the same way.
/// </summary>
public class ConfigValidationTests(ITestOutputHelper log)
{
    /// <summary>file, text to replace, replacement, the expected problem (after "FILE: ").</summary>
    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "llm/config.json", "\"num_hidden_layers\": 2,", "\"num_hidden_layers\": 2147483647,",
          "field 'num_hidden_layers': 2147483647 is out of range; allowed: 1 to 1024" },
        { "llm/config.json", "\"num_hidden_layers\": 2,", "\"num_hidden_layers\": 3,",
          "field 'num_hidden_layers': 3 does not match the weights; allowed: 2 (LLMWEIGHTS holds layers 0 to 1 under 'model.layers.')" },
        { "vision3d_model/config.json", "\"num_layers\": 2,", "\"num_layers\": 2147483647,",
          "field 'num_layers': 2147483647 is out of range; allowed: 1 to 1024" },
        { "vision2d_model/config.json", "\"patch_size\": 8,", "\"patch_size\": 0,",
          "field 'patch_size': 0 is out of range; allowed: 1 to 32" },
        { "vision2d_model/config.json", "\"patch_size\": 8,", "\"patch_size\": 5,",
          "field 'patch_size': 5 is out of range; allowed: a divisor of image_size 32" },
        { "vision2d_model/config.json", "\"patch_size\": 8,", "\"patch_size\": 2147483647,",
          "field 'patch_size': 2147483647 is out of range; allowed: 1 to 32" },
        { "vision3d_model/config.json", "\"patch_size\": [\n    2,", "\"patch_size\": [\n    2147483647,",
          "field 'patch_size': [2147483647, 8, 8] is out of range; allowed: 3 integers, each 1 to 4096" },
        { "args/config.json", "\"llm_max_length\": 768,", "\"llm_max_length\": 2147483647,",
          "field 'llm_max_length': 2147483647 is out of range; allowed: 1 to 16777216" },
        { "args/config.json", "\"llm_max_length\": 768,", "\"llm_max_length\": 4096,",
          "field 'llm_max_length': 4096 is out of range; allowed: 1 to max_position_embeddings 1024 of LLMCONFIG" },
        { "llm/config.json", "\"rms_norm_eps\": 1e-05,", "\"rms_norm_eps\": 0,",
          "field 'rms_norm_eps': 0 is out of range; allowed: a number > 0 and < 1" },
        { "llm/config.json", "\"rms_norm_eps\": 1e-05,", "\"rms_norm_eps\": -1e-05,",
          "field 'rms_norm_eps': -1e-05 is out of range; allowed: a number > 0 and < 1" },
        { "llm/config.json", "\"rope_theta\": 10000.0,", "\"rope_theta\": 1e400,",
          "field 'rope_parameters.rope_theta': 1e400 is out of range; allowed: a number from 1 to 1e12" },
        { "llm/config.json", "\"max_position_embeddings\": 1024,", "\"max_position_embeddings\": -1,",
          "field 'max_position_embeddings': -1 is out of range; allowed: 1 to 16777216" },
        { "llm/config.json", "\"eos_token_id\": 320,", "\"eos_token_id\": null,",
          "field 'eos_token_id': required but missing; allowed: a token id or a list of ids, each 0 to 327" },
        { "llm/config.json", "\"eos_token_id\": 320,", "\"eos_token_id\": [320, 328],",
          "field 'eos_token_id': [320, 328] is out of range; allowed: 0 to 327" },
        { "llm/config.json", "\"num_attention_heads\": 4,", "\"num_attention_heads\": 0,",
          "field 'num_attention_heads': 0 is out of range; allowed: 1 to 131072" },
        { "llm/config.json", "\"num_attention_heads\": 4,", "\"num_attention_heads\": 3,",
          "field 'num_attention_heads': 3 is out of range; allowed: a divisor of hidden_size 64 (or give head_dim)" },
        { "vision2d_model/config.json", "\"hidden_act\": \"gelu_pytorch_tanh\",", "\"hidden_act\": 7,",
          "field 'hidden_act': expected a string, found 7" },
        { "llm/config.json", "{", "{\"\\ud800_comment\": 1,",
          "property name #0 of $ is not valid text (invalid UTF-8 or an unpaired surrogate escape)" },
        { "llm/config.json", "\"hidden_act\": \"silu\",", "\"hidden_act\": \"\\udc00\",",
          "the string at $.hidden_act is not valid text (invalid UTF-8 or an unpaired surrogate escape)" },
    };

    static string CopyFixture(CliRunner.TempDir tmp)
    {
        BadInputTests.CopyDirectory(CliRunner.FixtureDir, tmp.Path);
        return Path.Combine(tmp.Path, "checkpoint");
    }

    static void Edit(string path, string find, string replace)
    {
        string text = File.ReadAllText(path);
        Assert.Contains(find, text);
        int at = text.IndexOf(find, StringComparison.Ordinal);
        File.WriteAllText(path, text[..at] + replace + text[(at + find.Length)..]);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RefusedWhenOpenedNamingFileFieldValueAndRange(string file, string find, string replace, string problem)
    {
        using var tmp = new CliRunner.TempDir();
        string root = CopyFixture(tmp);
        string config = Path.Combine(root, file);
        Edit(config, find, replace);
        problem = problem.Replace("LLMWEIGHTS", Path.Combine(root, "llm", "pytorch_model.bin"))
            .Replace("LLMCONFIG", Path.Combine(root, "llm", "config.json"));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsAny<CheckpointFormatException>(() => Med2E3Checkpoint.Open(root));
        double seconds = clock.Elapsed.TotalSeconds;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        log.WriteLine($"{e.Message}\n{allocated / 1024.0:0} KiB allocated, {seconds * 1000:0} ms");
        Assert.Equal($"{config}: {problem}", e.Message);
        Assert.True(allocated < 16 << 20, $"opening allocated {allocated} bytes");
        Assert.True(seconds < 5, $"opening took {seconds:0.0} s");
    }

    /// <summary>info and generate map the same config problem to the same exit code and the same line.</summary>
    [Theory]
    [InlineData("llm/config.json", "{", "{\"\\ud800_comment_with_a_lone_surrogate\": 1,")]
    [InlineData("vision2d_model/config.json", "\"patch_size\": 8,", "\"patch_size\": 0,")]
    [InlineData("llm/config.json", "\"num_hidden_layers\": 2,", "\"num_hidden_layers\": 2147483647,")]
    public void InfoAndGenerateReportTheSameLine(string file, string find, string replace)
    {
        using var tmp = new CliRunner.TempDir();
        string root = CopyFixture(tmp);
        Edit(Path.Combine(root, file), find, replace);
        string volume = Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", "phantom-1x8x32x32.npy");
        var info = CliRunner.Run("info", "--checkpoint", root);
        var generate = CliRunner.Run("generate", "--checkpoint", root, "--volume", volume, "-q", "hi", "--device", "cpu");
        log.WriteLine(info.Err + generate.Err);
        Assert.Equal(ExitCodes.Checkpoint, info.ExitCode);
        Assert.Equal(ExitCodes.Checkpoint, generate.ExitCode);
        string line = Assert.Single(info.ErrLines);
        Assert.StartsWith($"med2e3: {Path.Combine(root, file)}: ", line);
        Assert.Contains(line, generate.ErrLines);
    }

    /// <summary>A 16 MiB string in a config is quoted in at most 200 characters, not copied to stderr whole.</summary>
    [Fact]
    public void AHugeStringIsQuotedBounded()
    {
        using var tmp = new CliRunner.TempDir();
        string root = CopyFixture(tmp);
        string config = Path.Combine(root, "vision2d_model", "config.json");
        string huge = new('A', 16 << 20);
        Edit(config, "\"hidden_act\": \"gelu_pytorch_tanh\",", $"\"hidden_act\": \"{huge}\",");
        var r = CliRunner.Run("info", "--checkpoint", root);
        Assert.Equal(ExitCodes.Checkpoint, r.ExitCode);
        string line = Assert.Single(r.ErrLines);
        log.WriteLine(line);
        Assert.Equal($"med2e3: {config}: field 'hidden_act': '{new string('A', 200)}… (16777216 characters)' is not supported "
            + "(gelu_pytorch_tanh)", line);
        Assert.True(r.Out.Length < 20_000, $"info's summary on stdout has {r.Out.Length} characters");

        Edit(config, $"\"hidden_act\": \"{huge}\",", "\"hidden_act\": \"gelu_pytorch_tanh\",");
        Edit(config, "\"layer_norm_eps\": 1e-06,", $"\"layer_norm_eps\": \"{huge}\",");
        r = CliRunner.Run("info", "--checkpoint", root);
        Assert.Equal(ExitCodes.Checkpoint, r.ExitCode);
        line = Assert.Single(r.ErrLines);
        Assert.True(line.Length < 500, line.Length.ToString());
        Assert.Contains("field 'layer_norm_eps': expected a number, found \"AAAA", line);
        Assert.EndsWith("… (16777218 bytes)", line);
    }

    /// <summary>A config file larger than any real one is refused from its size, before it is read.</summary>
    [Fact]
    public void AnOversizedConfigIsRefusedBeforeItIsRead()
    {
        using var tmp = new CliRunner.TempDir();
        string root = CopyFixture(tmp);
        string config = Path.Combine(root, "args", "config.json");
        using (var f = new FileStream(config, FileMode.Open, FileAccess.Write))
        {
            f.SetLength(Models.Config.ConfigJson.MaxFileBytes + 1);            // sparse: nothing is written
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<CheckpointConfigException>(() => Med2E3Checkpoint.Open(root));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Equal($"{config}: {Models.Config.ConfigJson.MaxFileBytes + 1} bytes, more than the "
            + $"{Models.Config.ConfigJson.MaxFileBytes} a config file may have", e.Message);
    }

    /// <summary>A tokenizer that can produce an id the LLM has no embedding row for is refused at load.</summary>
    [Fact]
    public void TokenizerIdsOutsideTheLlmVocabularyAreRefused()
    {
        using var tmp = new CliRunner.TempDir();
        string root = CopyFixture(tmp);
        string tokenizer = Path.Combine(root, "tokenizer.json");
        Edit(tokenizer, "\"id\": 325,", "\"id\": 400,");
        var e = Assert.Throws<Tokenizers.TokenizerFileException>(() => Models.Multimodal.Med2E3Model.Load(root, "cpu"));
        Assert.Equal($"{tokenizer}: the tokenizer produces ids up to 400, outside the LLM vocabulary (vocab_size 328 in "
            + $"{Path.Combine(root, "llm", "config.json")})", e.Message);
    }
}
