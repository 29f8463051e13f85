using System.Globalization;

namespace Med2E3.Native.Models.Golden;

/// <summary>One comparison of the golden check.</summary>
/// <param name="Name">The golden key (<c>output.logits</c>, <c>grad.llm.lm_head.weight</c>) or a tokenizer case.</param>
/// <param name="MaxAbsError">max |computed − reference| (null for exact comparisons of ids and strings).</param>
/// <param name="RelativeError">‖computed − reference‖₂ / ‖reference‖₂ (for the loss: |Δ| / |reference|).</param>
/// <param name="Tolerance">The bound on <paramref name="RelativeError"/> (0 for exact comparisons).</param>
/// <param name="Passed">Within tolerance (or equal).</param>
/// <param name="Detail">What was compared, or why it failed.</param>
public sealed record GoldenRow(string Name, double? MaxAbsError, double? RelativeError, double Tolerance, bool Passed,
    string Detail);

/// <summary>The result of <see cref="GoldenCheck.Run"/>: one row per compared tensor, id list and tokenizer string.</summary>
public sealed class GoldenReport
{
    private readonly List<GoldenRow> _rows = [];

    public GoldenReport(string fixture, string device, string dtype)
    {
        Fixture = fixture;
        Device = device;
        DType = dtype;
    }

    public string Fixture { get; }

    public string Device { get; }

    public string DType { get; }

    public IReadOnlyList<GoldenRow> Rows => _rows;

    /// <summary>True when every row passed (and there is at least one).</summary>
    public bool Passed => _rows.Count > 0 && _rows.All(r => r.Passed);

    public int FailedCount => _rows.Count(r => !r.Passed);

    /// <summary>Wall-clock time of the run (load included).</summary>
    public TimeSpan Elapsed { get; set; }

    public void Add(GoldenRow row) => _rows.Add(row);

    /// <summary>The row called <paramref name="name"/>.</summary>
    public GoldenRow this[string name] => _rows.FirstOrDefault(r => r.Name == name)
        ?? throw new KeyNotFoundException($"GoldenReport.cs: no row '{name}'");

    /// <summary>Writes the table: name, max abs error, relative error, tolerance, pass/FAIL, detail; then a summary line.</summary>
    public void Write(TextWriter output)
    {
        int width = Math.Max(24, _rows.Count == 0 ? 0 : _rows.Max(r => r.Name.Length));
        output.WriteLine($"golden-check {Fixture} on {Device} ({DType})");
        output.WriteLine($"{"check".PadRight(width)}  {"max abs err",11}  {"rel err",10}  {"tolerance",9}  result  detail");
        foreach (var r in _rows)
        {
            string abs = r.MaxAbsError is { } a ? a.ToString("0.000e+00", CultureInfo.InvariantCulture) : "-";
            string rel = r.RelativeError is { } e ? e.ToString("0.000e+00", CultureInfo.InvariantCulture) : "-";
            string tol = r.RelativeError is null ? "exact" : r.Tolerance.ToString("0e+00", CultureInfo.InvariantCulture);
            output.WriteLine($"{r.Name.PadRight(width)}  {abs,11}  {rel,10}  {tol,9}  {(r.Passed ? "pass" : "FAIL"),-6}  {r.Detail}");
        }
        output.WriteLine(Passed
            ? $"PASS: {_rows.Count} checks, all within tolerance ({Elapsed.TotalSeconds:F1} s)"
            : $"FAIL: {FailedCount} of {_rows.Count} checks failed ({Elapsed.TotalSeconds:F1} s): " +
              string.Join(", ", _rows.Where(r => !r.Passed).Take(8).Select(r => r.Name)) + (FailedCount > 8 ? ", …" : ""));
    }
}
