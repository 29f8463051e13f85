namespace Med2E3.Native.Tensors;

/// <summary>
/// A small deterministic generator (SplitMix64) so seeded tensors are identical on every platform and .NET
/// version. Normals come from Box–Muller in double precision.
/// </summary>
public sealed class SeededRandom(long seed)
{
    private ulong _state = (ulong)seed * 0x9E3779B97F4A7C15UL + 0x2545F4914F6CDD1DUL;
    private double? _spare;

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [lo, hi).</summary>
    public long NextLong(long lo, long hi) => lo + (long)(NextUInt64() % (ulong)(hi - lo));

    /// <summary>Standard normal.</summary>
    public double NextGaussian()
    {
        if (_spare is double s)
        {
            _spare = null;
            return s;
        }
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }
}
