namespace Med2E3.Native.Runtime;

/// <summary>A grid or block size. An <see cref="int"/> converts to <c>(x, 1, 1)</c>.</summary>
/// <param name="X">Size in x.</param>
/// <param name="Y">Size in y.</param>
/// <param name="Z">Size in z.</param>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    /// <summary>Total count, X·Y·Z.</summary>
    public long Total => (long)X * Y * Z;

    /// <summary>A one-dimensional size.</summary>
    /// <param name="x">Size in x (positive).</param>
    public static implicit operator Dim3(int x) => new(checked((uint)x));

    /// <summary>A one-dimensional size.</summary>
    /// <param name="x">Size in x.</param>
    public static implicit operator Dim3(uint x) => new(x);

    /// <summary>A 2D size.</summary>
    /// <param name="xy">Sizes in x and y.</param>
    public static implicit operator Dim3((int X, int Y) xy) => new(checked((uint)xy.X), checked((uint)xy.Y));

    /// <summary>A 3D size.</summary>
    /// <param name="xyz">Sizes in x, y and z.</param>
    public static implicit operator Dim3((int X, int Y, int Z) xyz) =>
        new(checked((uint)xyz.X), checked((uint)xyz.Y), checked((uint)xyz.Z));

    /// <summary>⌈n / d⌉, for grid sizes.</summary>
    /// <param name="n">Work items.</param>
    /// <param name="d">Items per block.</param>
    public static uint CeilDiv(long n, long d) => checked((uint)((n + d - 1) / d));

    /// <inheritdoc />
    public override string ToString() => $"({X}, {Y}, {Z})";
}
