namespace Med2E3.Native.Cli;

/// <summary>Entry point of the <c>med2e3</c> command-line tool.</summary>
public static class Program
{
    public static int Main(string[] args) => CommandTree.Run(args, Console.Out, Console.Error);
}
