using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Models.Golden;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// The key acceptance test: the whole network on the CPU in fp32 reproduces the float64 reference of the tiny
/// fixture (every output within relative L2 1e-4, loss within 1e-5, every gradient within 1e-3, identical greedy ids).
/// Each stage is its own case so a failure points at the stage.
/// </summary>
public class GoldenCheckTests(ITestOutputHelper log)
{
    public static TheoryData<string> OutputNames => [.. GoldenCheck.Outputs];

    public static TheoryData<string> GradientNames
    {
        get
        {
            var fx = GoldenFixture.Open(ModelFixture.Fixture);
            return [.. fx.Golden.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal))];
        }
    }

    [Fact]
    public void GoldenCheckPassesOnCpu()
    {
        var report = ModelFixture.Report;
        var text = new StringWriter();
        report.Write(text);
        log.WriteLine(text.ToString());
        Assert.True(report.Passed, text.ToString());
        Assert.Equal("cpu", report.Device);
        Assert.Equal("f32", report.DType);
    }

    [Theory]
    [MemberData(nameof(OutputNames))]
    public void OutputStageMatchesReference(string name)
    {
        var row = ModelFixture.Report[name];
        log.WriteLine($"{row.Name}: max abs {row.MaxAbsError:e3}, rel {row.RelativeError:e3}, {row.Detail}");
        Assert.True(row.Passed, $"{row.Name}: {row.Detail} (rel {row.RelativeError:e3} > {row.Tolerance:e0})");
        if (row.RelativeError is { } rel && name != "output.loss")
        {
            Assert.True(rel <= 1e-4);
        }
    }

    [Theory]
    [MemberData(nameof(GradientNames))]
    public void GradientMatchesReference(string name)
    {
        var row = ModelFixture.Report[name];
        Assert.True(row.Passed, $"{row.Name}: {row.Detail} (rel {row.RelativeError:e3} > {row.Tolerance:e0})");
        if (!row.Detail.StartsWith("zero in exact arithmetic", StringComparison.Ordinal))
        {
            Assert.True(row.RelativeError <= 1e-3);
        }
        else
        {
            // Only the key-projection biases may take the zero-gradient rule: softmax over keys ignores them.
            Assert.EndsWith("self_attn.k_proj.bias", name);
        }
    }

    [Fact]
    public void EveryTokenizerVectorMatches()
    {
        var rows = ModelFixture.Report.Rows
            .Where(r => r.Name.StartsWith("tokenizer.", StringComparison.Ordinal) || r.Name.StartsWith("prompt.", StringComparison.Ordinal))
            .ToList();
        Assert.True(rows.Count >= 12 * 4 + 5, $"only {rows.Count} tokenizer rows");
        Assert.All(rows, r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }

    [Fact]
    public void ReportCoversEveryGoldenTensor()
    {
        var fx = GoldenFixture.Open(ModelFixture.Fixture);
        var names = ModelFixture.Report.Rows.Select(r => r.Name).ToHashSet();
        foreach (string key in fx.Golden.Keys.Where(k => k.StartsWith("output.") || k.StartsWith("grad.")))
        {
            Assert.Contains(key, names);
        }
    }

    [Fact]
    public void CommandPrintsTableAndReturnsZero()
    {
        var output = new StringWriter();
        int code = GoldenCheckCommand.Run(ModelFixture.Fixture, "cpu", output);
        string text = output.ToString();
        Assert.Equal(0, code);
        Assert.Contains("output.logits", text);
        Assert.Contains("grad.llm.lm_head.weight", text);
        Assert.Contains("PASS:", text);
    }

    [Fact]
    public void MissingFixtureIsATypedError()
    {
        var e = Assert.Throws<GoldenFixtureException>(() => GoldenCheck.Run(Path.Combine(Path.GetTempPath(), "no-such-fixture-" + Guid.NewGuid())));
        Assert.Contains("fixture folder not found", e.Message);
    }

    [Fact]
    public void ComparisonFlagsAPerturbedTensor()
    {
        float[] r = [1f, -2f, 3f, 0.5f];
        float[] a = [1f, -2f, 3.01f, 0.5f];
        var row = GoldenCheck.Compare("x", a, r, 1e-4);
        Assert.False(row.Passed);
        Assert.Equal(0.01, row.MaxAbsError!.Value, 5);
        Assert.Equal(0.01 / Math.Sqrt(1 + 4 + 9 + 0.25), row.RelativeError!.Value, 6);
        Assert.True(GoldenCheck.Compare("x", r, r, 1e-4).Passed);
        Assert.False(GoldenCheck.Compare("x", [1f, float.NaN, 3f, 0.5f], r, 1e-4).Passed);
        Assert.False(GoldenCheck.Compare("x", [1f], r, 1e-4).Passed);
    }
}
