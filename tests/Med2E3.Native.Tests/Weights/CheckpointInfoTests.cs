using Med2E3.Native.Cli.Commands;

namespace Med2E3.Native.Tests.Weights;

public class CheckpointInfoTests(ITestOutputHelper log)
{
    [Fact]
    public void InfoOnFixtureSucceedsAndPrintsSummary()
    {
        var output = new StringWriter();
        int rc = CheckpointInfo.Run(FixturePaths.Checkpoint, output,
            new Med2E3.Native.Models.Weights.CheckpointOptions(), readData: true);
        log.WriteLine(output.ToString());
        Assert.Equal(0, rc);
        string text = output.ToString();
        Assert.Contains("OK: every tensor matches the configs", text);
        Assert.Contains("llm/pytorch_model.bin", text);
    }
}
