namespace Med2E3.Native.Tests;

public class SmokeTests
{
    [Fact]
    public void CliEntryPointRuns() => Assert.Equal(0, Med2E3.Native.Cli.Program.Main([]));
}
