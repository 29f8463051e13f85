namespace Med2E3.Native.Tests.Shared;

/// <summary>Index helpers and independent math for the oracles (nothing here calls the code under test).</summary>
public static class Oracle
{
    /// <summary>Row-major offset of a multi-index.</summary>
    public static int Offset(int[] shape, int[] idx)
    {
        int o = 0;
        for (int i = 0; i < shape.Length; i++) o = o * shape[i] + idx[i];
        return o;
    }

    /// <summary>Multi-index of a row-major offset.</summary>
    public static int[] Unravel(int[] shape, int off)
    {
        var idx = new int[shape.Length];
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            idx[i] = off % shape[i];
            off /= shape[i];
        }
        return idx;
    }

    /// <summary>Number of elements.</summary>
    public static int Numel(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    /// <summary>Builds an output array by evaluating <paramref name="f"/> at every multi-index of <paramref name="shape"/>.</summary>
    public static double[] Build(int[] shape, Func<int[], double> f)
    {
        var r = new double[Numel(shape)];
        for (int i = 0; i < r.Length; i++) r[i] = f(Unravel(shape, i));
        return r;
    }

    /// <summary>Value of a broadcast operand at an output index (NumPy rules).</summary>
    public static double Broadcast(Arr a, int[] outIdx)
    {
        int lead = outIdx.Length - a.Shape.Length;
        var idx = new int[a.Shape.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = a.Shape[i] == 1 ? 0 : outIdx[i + lead];
        return a[idx];
    }

    /// <summary>
    /// erf by its Maclaurin series for |x| &lt; 3 (terms summed until negligible) and by the Laplace continued fraction
    /// of erfc beyond; about 1e-13 relative, independent of the implementation under test.
    /// </summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 3)
        {
            double sum = 0, term = ax;
            for (int n = 0; n < 200; n++)
            {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
                term *= -ax * ax / (n + 1);
            }
            double r = 2 / Math.Sqrt(Math.PI) * sum;
            return x < 0 ? -r : r;
        }
        // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) evaluated bottom-up.
        double f = ax;
        for (int k = 60; k >= 1; k--) f = ax + k / 2.0 / f;
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return x < 0 ? -(1 - erfc) : 1 - erfc;
    }

    /// <summary>Normalised mean squared error Σ(d − r)² / Σr².</summary>
    public static double Nmse(double[] d, double[] r)
    {
        double num = 0, den = 0;
        for (int i = 0; i < r.Length; i++)
        {
            num += (d[i] - r[i]) * (d[i] - r[i]);
            den += r[i] * r[i];
        }
        return den == 0 ? num : num / den;
    }
}
