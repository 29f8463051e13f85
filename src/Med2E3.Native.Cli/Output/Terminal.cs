using System.Diagnostics;
using Spectre.Console;

namespace Med2E3.Native.Cli.Output;

/// <summary>
/// Where a command writes. stdout carries the result only (the answer, the JSON document, the report); progress,
/// notices and timings go to stderr. Spinners and progress bars (Spectre.Console) are drawn only when both streams
/// are an interactive terminal and <c>--json</c> is off; otherwise progress is plain lines on stderr, and with
/// <c>--json</c> nothing but errors reaches stderr.
/// </summary>
public sealed class Terminal
{
    readonly IAnsiConsole? fancyConsole;

    Terminal(TextWriter stdout, TextWriter stderr, bool json, bool verbose, IAnsiConsole? fancy)
    {
        Out = stdout;
        Err = stderr;
        Json = json;
        Verbose = verbose;
        fancyConsole = fancy;
    }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    /// <summary>Machine-readable mode: stdout holds one JSON document, nothing else is printed.</summary>
    public bool Json { get; }

    public bool Verbose { get; }

    /// <summary>Spinners, colours and live progress bars are on.</summary>
    public bool Fancy => fancyConsole is not null;

    public static Terminal Create(TextWriter stdout, TextWriter stderr, bool json, bool verbose)
    {
        bool isConsole = ReferenceEquals(stdout, Console.Out) || stdout is StdoutWriter { Inner: var inner } && ReferenceEquals(inner, Console.Out);
        bool interactive = isConsole && ReferenceEquals(stderr, Console.Error)
            && !Console.IsOutputRedirected && !Console.IsErrorRedirected && !json
            && Environment.GetEnvironmentVariable("TERM") is not "dumb";
        IAnsiConsole? fancy = interactive
            ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
            : null;
        return new Terminal(stdout, stderr, json, verbose, fancy);
    }

    /// <summary>A note for the reader (stderr), e.g. "demo weights are random". Suppressed with --json.</summary>
    public void Note(string text)
    {
        if (Json) return;
        if (fancyConsole is not null) fancyConsole.MarkupLineInterpolated($"[yellow]{text}[/]");
        else Err.WriteLine(text);
    }

    /// <summary>A detail line (stderr), shown only with --verbose.</summary>
    public void Detail(string text)
    {
        if (Json || !Verbose) return;
        if (fancyConsole is not null) fancyConsole.MarkupLineInterpolated($"[grey]{text}[/]");
        else Err.WriteLine(text);
    }

    /// <summary>A plain status line (stderr). Suppressed with --json.</summary>
    public void Status(string text)
    {
        if (Json) return;
        if (fancyConsole is not null) fancyConsole.MarkupLineInterpolated($"[grey]{text}[/]");
        else Err.WriteLine(text);
    }

    /// <summary>
    /// Runs one stage with a spinner (interactive) or a "title … 0.12 s" line (plain); returns its result and its
    /// wall time in seconds.
    /// </summary>
    public (T Result, double Seconds) Stage<T>(string title, Func<T> work)
    {
        var clock = Stopwatch.StartNew();
        T result;
        if (Json)
        {
            result = work();
        }
        else if (fancyConsole is not null)
        {
            result = fancyConsole.Status().Spinner(Spinner.Known.Dots).Start(title + " …", _ => work());
            fancyConsole.MarkupLineInterpolated($"[green]✓[/] {title} [grey]{clock.Elapsed.TotalSeconds:0.00} s[/]");
        }
        else
        {
            Err.Write(title + " … ");
            Err.Flush();
            try
            {
                result = work();
            }
            catch
            {
                Err.WriteLine("failed");
                throw;
            }
            Err.WriteLine($"{clock.Elapsed.TotalSeconds:0.00} s");
        }
        return (result, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// A progress bar over <paramref name="total"/> items with items/s and ETA (interactive), or one line per item
    /// on stderr (plain). <paramref name="work"/> receives a callback to call after each item with a short label.
    /// </summary>
    public void Progress(string title, int total, string unit, Action<Action<string>> work)
    {
        var clock = Stopwatch.StartNew();
        if (Json)
        {
            work(_ => { });
            return;
        }
        if (fancyConsole is not null)
        {
            fancyConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                         new RateColumn(unit), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(title, maxValue: Math.Max(total, 1));
                    work(_ => task.Increment(1));
                    task.Value = task.MaxValue;
                });
            return;
        }
        int done = 0;
        work(label =>
        {
            done++;
            double rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            double eta = (total - done) / rate;
            Err.WriteLine($"[{done}/{total}] {label}  {rate:0.00} {unit}/s  ETA {FormatDuration(eta)}");
        });
    }

    internal static string FormatDuration(double seconds)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds)) return "--:--";
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes:00}:{t.Seconds:00}";
    }

    /// <summary>Spectre progress column: completed items per second since the task started.</summary>
    sealed class RateColumn(string unit) : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(
            Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            double seconds = task.ElapsedTime?.TotalSeconds ?? 0;
            string text = seconds > 0 && task.Value > 0 ? $"{task.Value / seconds:0.00} {unit}/s" : $"-- {unit}/s";
            return new Text(text, new Style(Color.Grey));
        }
    }
}
