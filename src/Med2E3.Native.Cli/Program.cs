using System.CommandLine;
using Med2E3.Native.Cli.Commands;
using Med2E3.Native.Cli.Output;

namespace Med2E3.Native.Cli;

/// <summary>
/// Entry point of the <c>med2e3</c> command-line tool: the command tree, and the one place where failures become exit
/// codes (see <see cref="ExitCodes"/>). Reading path: <c>generate</c> → <see cref="GenerateCommand.Run"/> →
/// <c>Med2E3Model.Generate</c>.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, new StdoutWriter(Console.Out), Console.Error);

    public static RootCommand Build()
    {
        var root = new RootCommand(
            "med2e3 — run Med-2E3 (3D medical multimodal LLM) from C#, on the CPU or on a GPU with hand-written CUDA kernels")
        {
            CommonOptions.Verbose(),
        };
        root.SetAction(parse => root.Parse(["--help"]).Invoke(parse.InvocationConfiguration));
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(BatchCommand.Create());
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(GoldenCheck());
        root.Subcommands.Add(KernelsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(PreprocessCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/>, writing to the given streams. Usage errors print one line each and
    /// exit with 2; whatever a command throws goes through the one mapping of <see cref="Failure.Classify"/> (the
    /// same for every command): one line on stderr and its exit code; anything unclassified is an internal error
    /// (70). Stack traces only with <c>--verbose</c>.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = Build();
        ParseResult parse;
        try
        {
            parse = root.Parse(args);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            stderr.WriteLine($"med2e3: {CliException.OneLine(e.Message)}");
            return ExitCodes.Usage;
        }
        bool verbose = args.Contains("--verbose") || args.Contains("-v");

        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
                stderr.WriteLine($"med2e3: {DescribeError(error)}");
            string command = parse.CommandResult.Command == root ? "med2e3" : $"med2e3 {parse.CommandResult.Command.Name}";
            stderr.WriteLine($"Run '{command} --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            int code = parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
            stdout.Flush();
            return code;
        }
        catch (Exception e)
        {
            (int code, string message) = Failure.Classify(e);
            try
            {
                stderr.WriteLine($"med2e3: {message}");
                if (verbose) stderr.WriteLine(e is CliException { InnerException: { } inner } ? inner : e);
                else if (code == ExitCodes.Internal) stderr.WriteLine("Run again with --verbose for the stack trace.");
            }
            catch (Exception report) when (report is IOException or UnauthorizedAccessException)
            {
                // stderr is gone as well: the exit code is all that is left to say what happened.
            }
            return code;
        }
    }

    /// <summary>A parse error on one line, prefixed with the option it concerns when the message does not say.</summary>
    static string DescribeError(System.CommandLine.Parsing.ParseError error)
    {
        string message = string.Join(' ', error.Message.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Trim()));
        var option = error.SymbolResult switch
        {
            System.CommandLine.Parsing.OptionResult o => o.Option,
            System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option,
            _ => null,
        };
        return option is null || message.Contains(option.Name, StringComparison.Ordinal) ? message : $"{option.Name}: {message}";
    }

    static Command GoldenCheck()
    {
        var fixture = new Option<DirectoryInfo>("--fixture")
        {
            Description = "Golden fixture folder (e.g. tests/data/med2e3-tiny)",
            Required = true,
            HelpName = "DIR",
        };
        var device = CommonOptions.Device("cpu");
        var precision = CommonOptions.Precision();
        var command = new Command("golden-check", "Run the whole network on a golden fixture and compare every stage to the reference")
        {
            fixture, device, precision,
        };
        command.SetAction(int (ParseResult parse) =>
        {
            string resolved = DeviceChoice.Resolve(parse.GetValue(device) ?? "cpu");
            string dir = parse.GetValue(fixture)!.FullName;
            if (!Directory.Exists(dir)) throw CliException.BadInput($"{dir}: fixture folder not found");
            return GoldenCheckCommand.Run(dir, resolved, parse.InvocationConfiguration.Output,
                CommonOptions.ParsePrecision(parse.GetValue(precision)));
        });
        return command;
    }
}
