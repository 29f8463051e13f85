namespace Med2E3.Native.Tests.Fuzz;

/// <summary>
/// One reader under fuzz: valid seed inputs, how to mutate them, where a mutated input is written in the sandbox
/// folder, how it is read, and the exit code a refused input must map to. A new reader needs a seed, a mutation and
/// a read call; see <see cref="FuzzTargets"/> for examples.
/// </summary>
internal sealed class FuzzTarget
{
    /// <summary>Short name, also the corpus folder of the target (e.g. "npy", "config-llm").</summary>
    public required string Name { get; init; }

    /// <summary>Valid inputs to mutate (the bytes as the mutator sees them, before <see cref="Encode"/>).</summary>
    public required IReadOnlyList<byte[]> Seeds { get; init; }

    /// <summary>Makes one mutated input from a seed.</summary>
    public required Func<Random, byte[], byte[]> Mutate { get; init; }

    /// <summary>Path of the input file under the sandbox folder (e.g. "volume.npy", "checkpoint/llm/config.json").</summary>
    public required string InputPath { get; init; }

    /// <summary>Reads the input: (sandbox folder, full input path). Anything it throws is classified by the CLI's mapping.</summary>
    public required Action<string, string> Read { get; init; }

    /// <summary>The exit code an input the reader refuses must give (3 bad input, 4 checkpoint problem).</summary>
    public required int RefusedExitCode { get; init; }

    /// <summary>Turns the mutated bytes into the file written (e.g. gzip them, or wrap a pickle in a zip); identity by default.</summary>
    public Func<byte[], byte[]> Encode { get; init; } = b => b;

    /// <summary>Prepares the sandbox folder once per run (e.g. copies the tiny checkpoint).</summary>
    public Action<string> Setup { get; init; } = _ => { };

    /// <summary>Most bytes one read may allocate on the calling thread.</summary>
    public long AllocationBudget { get; init; } = 32L << 20;

    /// <summary>Mutated inputs a default (CI) run tries.</summary>
    public int Iterations { get; init; } = 600;
}
